package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
)

// privileges implements sqlcmd.UsersReloader (FLUSH PRIVILEGES) and holds
// the users: list behind SHOW GRANTS. FLUSH PRIVILEGES rereads the config
// file and swaps the accounts of every listener at once, or changes nothing
// when any entry is invalid. Sessions already logged in keep their account,
// as in MySQL.
type privileges struct {
	path string
	src  *config.Source
	srv  *protocol.Server // SetUsers; FLUSH PRIVILEGES runs only once it serves
	log  *slog.Logger
	live atomic.Pointer[[]config.User]
}

func newPrivileges(cfg *config.File, src *config.Source, srv *protocol.Server, log *slog.Logger) *privileges {
	p := &privileges{path: cfg.Path(), src: src, srv: srv, log: log}
	users := cfg.Users
	p.live.Store(&users)
	return p
}

// ReloadUsers implements sqlcmd.UsersReloader.
func (p *privileges) ReloadUsers(_ context.Context, by string) ([]string, error) {
	c, err := config.Load(p.path)
	if err != nil {
		p.log.Error("users reload", "result", "failed", "trigger", "sql "+by, "error", err.Error())
		return nil, err
	}
	if err := p.srv.SetUsers(c.ProtocolUsers()); err != nil {
		err = fmt.Errorf("config file %s: %w", c.Path(), err)
		p.log.Error("users reload", "result", "failed", "trigger", "sql "+by, "error", err.Error())
		return nil, err
	}
	users := c.Users
	p.live.Store(&users)
	p.src.SetRunningUsers(c.Users)
	p.log.Info("users reload", "result", "ok", "trigger", "sql "+by, "users", len(c.Users))
	warnings := config.X509Warnings(c)
	for _, w := range warnings {
		p.log.Warn("users reload warning", "warning", w)
	}
	return warnings, nil
}

// users returns the accounts now in use.
func (p *privileges) users() []config.User { return *p.live.Load() }

// account is sqlcmd.Env.Accounts: the SHOW GRANTS view of a user now in use.
func (p *privileges) account(name string) (sqlcmd.Account, bool) {
	for _, u := range p.users() {
		if u.Name == name {
			return sqlcmd.Account{Privileges: u.Privileges, RequireSSL: u.RequireSSL, RequireX509: u.RequireX509}, true
		}
	}
	return sqlcmd.Account{}, false
}

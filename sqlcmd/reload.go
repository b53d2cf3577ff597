package sqlcmd

import (
	"context"
	"errors"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/tlsctx"
)

// reloadTrigger is what tlsctx logs as the trigger of SQL-initiated reloads.
const reloadTrigger = "sql"

// reload runs SSL_RELOAD / ALTER INSTANCE RELOAD TLS / FLUSH SSL.
//
// On success the result is an OK packet whose warnings are tlsctx's
// non-fatal findings (level Warning, code 3888, as MySQL uses
// ER_DA_SSL_LIBRARY_ERROR for TLS warnings). On failure the previous contexts
// stay in use (tlsctx is all-or-nothing) and the error is 3888 with the
// ReloadError's text, or, when the change needs a restart, 3888 with a
// message naming the setting.
func (x *Executor) reload(ctx context.Context, s *Session, c Reload) (*Result, *Error) {
	if x.env.Reloader == nil {
		return nil, newError(ErrSSLLibrary, mysql.SSUnknownSQLState,
			"Failed to set up SSL because of the following SSL library error: TLS reloading is not configured; the previous TLS contexts remain in use")
	}
	opts := []tlsctx.ReloadOption{tlsctx.WithTrigger(reloadTrigger), tlsctx.WithUser(s.account())}
	if c.Channel != "" {
		opts = append(opts, tlsctx.ForChannel(c.Channel))
	}
	res, err := x.env.Reloader.Reload(ctx, opts...)
	if errors.Is(err, tlsctx.ErrChannelNotServed) {
		return nil, errChannelNotServed("ALTER INSTANCE RELOAD TLS", c.Channel)
	}
	if err != nil {
		return nil, reloadFailure(err, x.tlsOff())
	}
	x.resetAccepts(c.Channel)
	out := &Result{}
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, Warning{Level: "Warning", Code: ErrSSLLibrary, Message: w})
	}
	if c.NoRollback {
		out.Warnings = append(out.Warnings, Warning{Level: "Note", Code: mysql.ERNotSupportedYet,
			Message: "NO ROLLBACK ON ERROR is accepted but has no effect: ssld always keeps the previous TLS contexts when a reload fails"})
	}
	return out, nil
}

// resetAccepts starts the handshake counts of the reloaded channel (all
// when ch is "") again after a successful reload statement: MariaDB's
// FLUSH SSL and MySQL's ALTER INSTANCE RELOAD TLS build a new context,
// whose counts start at 0.
func (x *Executor) resetAccepts(ch tlsctx.Channel) {
	ac, ok := x.env.Processes.(TLSAcceptCounter)
	if !ok {
		return
	}
	for _, c := range []tlsctx.Channel{tlsctx.ChannelClient, tlsctx.ChannelCluster} {
		if ch == "" || ch == c {
			ac.ResetSSLAccepts(c)
		}
	}
}

// tlsOff reports whether a degraded start left a channel without its
// certificate: then there are no previous contexts to keep.
func (x *Executor) tlsOff() bool {
	st, ok := x.env.Certs.(interface{ Status() tlsctx.Status })
	return ok && len(st.Status().Unavailable) > 0
}

// reloadFailure maps a Reload failure to the SQL error; tlsOff says that
// there are no previous contexts to keep (a degraded start), and the
// message says so instead.
func reloadFailure(err error, tlsOff bool) *Error {
	kept := "the previous TLS contexts remain in use"
	if tlsOff {
		kept = "TLS stays off until a reload succeeds"
	}
	var re *tlsctx.ReloadError
	if errors.As(err, &re) && re.RestartRequired {
		setting := re.Setting
		if setting == "" {
			setting = "a setting"
		}
		return newError(ErrRestartRequired, mysql.SSUnknownSQLState,
			"Failed to reload TLS: %s cannot change on reload (%s); restart ssld to apply it; %s",
			setting, re.Error(), kept)
	}
	return newError(ErrSSLLibrary, mysql.SSUnknownSQLState,
		"Failed to set up SSL because of the following SSL library error: %s; %s",
		err.Error(), kept)
}

// account is the session's user@host, as ssl_last_reload_trigger and the
// log name who asked.
func (s *Session) account() string {
	host := s.Host
	if host == "" {
		host = "localhost"
	}
	return s.User + "@" + host
}

// flushPrivileges runs FLUSH PRIVILEGES: the accounts are reread from the
// config file and replace the live ones for new logins, all or none. As in
// MySQL, sessions already logged in keep their account and privileges.
func (x *Executor) flushPrivileges(ctx context.Context, s *Session) (*Result, *Error) {
	if x.env.Users == nil {
		return nil, newError(mysql.ERUnknownError, mysql.SSUnknownSQLState, "FLUSH PRIVILEGES: accounts cannot be reloaded here")
	}
	warnings, err := x.env.Users.ReloadUsers(ctx, s.account())
	if err != nil {
		return nil, newError(mysql.ERUnknownError, mysql.SSUnknownSQLState, "FLUSH PRIVILEGES failed: %v; the previous accounts remain in use", err)
	}
	out := &Result{}
	for _, w := range warnings {
		out.Warnings = append(out.Warnings, Warning{Level: "Warning", Code: mysql.ERUnknownError, Message: w})
	}
	return out, nil
}

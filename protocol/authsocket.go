package protocol

import (
	"crypto/rand"
	"crypto/tls"
	"net"
	"os/user"
	"strconv"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
)

// PluginUnixSocket is MariaDB's unix_socket authentication: an account with
// this plugin has no password and logs in over the Unix socket only, when
// the operating-system user of the connecting process (SO_PEERCRED) has the
// account's name. It is how certbot's deploy hook, cron and systemd's
// ExecReload= log in without a secret.
const PluginUnixSocket = "unix_socket"

// erAccessDeniedNoPassword is MariaDB's answer when unix_socket refuses a
// peer (ER_ACCESS_DENIED_NO_PASSWORD_ERROR).
const erAccessDeniedNoPassword = 1698

// unixSocketMethod authenticates unix_socket accounts. It presents itself
// as mysql_native_password, as MariaDB's plugin does (it has no client side
// of its own): what the client sends is ignored, so the mysql and mariadb
// command-line clients and every driver log in with no password and no
// extra round trip. Safe for concurrent use (stateless).
type unixSocketMethod struct {
	a *authServer
}

func (m unixSocketMethod) Name() mysql.AuthMethodDescription { return mysql.MysqlNativePassword }

// HandleUser claims unix_socket accounts only; unknown names stay with the
// password methods so that they get the same 1045 as before.
func (m unixSocketMethod) HandleUser(_ *mysql.Conn, name string) bool {
	acct, ok := m.a.users.get(name)
	return ok && acct.plugin == PluginUnixSocket
}

// AllowClearTextWithoutTLS: no secret crosses the wire.
func (m unixSocketMethod) AllowClearTextWithoutTLS() bool { return true }

// AuthPluginData is a fresh native-password salt, for clients that are
// switched to this method.
func (m unixSocketMethod) AuthPluginData() ([]byte, error) {
	salt := make([]byte, 20)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	for i := range salt {
		salt[i] = salt[i]&0x7f | 1 // no NUL, 7-bit, as MySQL's scramble
	}
	return salt, nil
}

// HandleAuthPluginData checks the peer's operating-system user. Over TCP
// (or the cluster port) the answer is the same 1045 as a wrong password, so
// a network client learns nothing about the account.
func (m unixSocketMethod) HandleAuthPluginData(c *mysql.Conn, name string, _, clientData []byte, addr net.Addr) (mysql.Getter, error) {
	acct, ok := m.a.users.get(name)
	if m.a.transport != "unix" || !ok || acct.plugin != PluginUnixSocket {
		return nil, accessDenied(name, addr, len(clientData) > 0)
	}
	uid, err := peerUID(c.Conn)
	if err == nil {
		var u *user.User
		if u, err = user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil && u.Username == acct.name {
			return &identity{acct: acct, host: "localhost"}, nil
		}
	}
	return nil, mysql.NewSQLError(erAccessDeniedNoPassword, mysql.SSAccessDeniedError,
		"Access denied for user '%s'@'localhost'", sqlcmd.CutUserName(name))
}

// socketOf unwraps the listener's connection types down to the socket.
func socketOf(c net.Conn) net.Conn {
	for {
		switch x := c.(type) {
		case *tls.Conn:
			c = x.NetConn()
		case *guardedConn:
			c = x.Conn
		default:
			return c
		}
	}
}

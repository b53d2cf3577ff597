package protocol_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/protocol"
)

// TestConnectionAdminReloads: an account with MySQL 8's CONNECTION_ADMIN
// (and no SUPER) runs every reload statement and CHECK TLS, as MySQL
// requires it for ALTER INSTANCE RELOAD TLS; SHOW GRANTS lists it. An
// account with neither is refused with 1227 naming both; other
// SUPER-only statements still need SUPER.
func TestConnectionAdminReloads(t *testing.T) {
	mysqlCLI := testenv.LookPath(t, "mysql")
	f := tlstest.New(t, "connection admin CA", false, tlstest.ClientOnly)
	srv, _ := startTLSServer(t, f,
		protocol.User{Name: "ops", Password: "pw", Privileges: []string{"CONNECTION_ADMIN"}},
		protocol.User{Name: "both", Password: "pw", Privileges: []string{"SUPER", "CONNECTION_ADMIN"}},
		protocol.User{Name: "monitor", Password: "pw"})
	_, port, _ := strings.Cut(srv.Addr().String(), ":")
	run := func(user, stmt string) (string, error) {
		out, err := exec.Command(mysqlCLI, "--no-defaults", "-h127.0.0.1", "-P"+port, "-u"+user, "-ppw", "--ssl",
			"--batch", "--skip-column-names", "-e", stmt).CombinedOutput()
		// On an error the MariaDB client echoes the statement first: the
		// error is the last line.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err != nil {
			return lines[len(lines)-1], err
		}
		return strings.TrimSpace(string(out)), err
	}
	for _, stmt := range []string{"SSL_RELOAD", "FLUSH SSL", "ALTER INSTANCE RELOAD TLS", "ALTER INSTANCE RELOAD TLS FOR CHANNEL mysql_main", "CHECK TLS"} {
		out, err := run("ops", stmt)
		assert.NoError(t, err, "CONNECTION_ADMIN runs %s: %s", stmt, out)
		out, err = run("monitor", stmt)
		assert.Error(t, err, stmt)
		assert.Equal(t, "ERROR 1227 (42000) at line 1: Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation", out, stmt)
	}
	out, err := run("ops", "FLUSH HOSTS")
	assert.Error(t, err, "FLUSH HOSTS needs SUPER (MySQL's RELOAD), not CONNECTION_ADMIN")
	assert.Equal(t, "ERROR 1227 (42000) at line 1: Access denied; you need (at least one of) the SUPER privilege(s) for this operation", out)

	out, err = run("ops", "SHOW GRANTS")
	require.NoError(t, err, out)
	assert.Equal(t, "GRANT CONNECTION_ADMIN ON *.* TO 'ops'@'%'", out)
	out, err = run("both", "SHOW GRANTS")
	require.NoError(t, err, out)
	assert.Equal(t, "GRANT SUPER, CONNECTION_ADMIN ON *.* TO 'both'@'%'", out)
}

// TestTLSErrorNumbersOverWire: the error numbers MySQL's own tests assert
// for TLS statements, as the mysql CLI prints them.
func TestTLSErrorNumbersOverWire(t *testing.T) {
	mysqlCLI := testenv.LookPath(t, "mysql")
	f := tlstest.New(t, "error numbers CA", false, tlstest.ClientOnly)
	srv, _ := startTLSServer(t, f)
	_, port, _ := strings.Cut(srv.Addr().String(), ":")
	for stmt, want := range map[string]string{
		"SET SESSION ssl_ca = '/etc/ca.pem'": "ERROR 1229 (HY000) at line 1: Variable 'ssl_ca' is a GLOBAL variable and should be set with SET GLOBAL",
		"ALTER INSTANCE RELOAD TLS FOR CHANNEL haha": "ERROR 1149 (42000) at line 1: You have an error in your SQL syntax; check the manual that corresponds to your ssld version " +
			"for the right syntax to use: unknown TLS channel 'haha' (want client, cluster, mysql_main or mysql_admin)",
		"ALTER INSTANCE RELOAD TLS FOR CHANNEL cluster": "ERROR 1210 (HY000) at line 1: Incorrect arguments to ALTER INSTANCE RELOAD TLS: " +
			"this node does not serve the cluster channel (cluster_listen is not set); FOR CHANNEL client is the channel it serves",
	} {
		out, err := exec.Command(mysqlCLI, "--no-defaults", "-h127.0.0.1", "-P"+port, "-uadmin", "-ppw", "--ssl",
			"--batch", "--skip-column-names", "-e", stmt).CombinedOutput()
		assert.Error(t, err, stmt)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		assert.Equal(t, want, lines[len(lines)-1], stmt)
	}
}

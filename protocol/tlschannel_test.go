package protocol_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/tlstest"
)

// TestTLSChannelStatus: performance_schema.tls_channel_status as MySQL 8.4
// monitoring queries it with the mysql CLI: MySQL's columns and property
// names, mysql_main for the client channel and mysql_admin for the cluster
// channel where it is served, filtered by WHERE.
func TestTLSChannelStatus(t *testing.T) {
	mysqlCLI := testenv.LookPath(t, "mysql")
	for _, tc := range []struct {
		name     string
		opts     []tlstest.Option
		channels []string
	}{
		{"client only", []tlstest.Option{tlstest.ClientOnly}, []string{"mysql_main"}},
		{"cluster served", nil, []string{"mysql_main", "mysql_admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tlstest.New(t, "channel status CA", true, tc.opts...)
			srv, _ := startTLSServer(t, f)
			_, port, _ := strings.Cut(srv.Addr().String(), ":")
			query := func(stmt string) (string, error) {
				out, err := exec.Command(mysqlCLI, "--no-defaults", "-h127.0.0.1", "-P"+port, "-uadmin", "-ppw", "--ssl",
					"--batch", "-e", stmt).CombinedOutput()
				return strings.TrimRight(string(out), "\n"), err
			}
			out, err := query("SELECT * FROM performance_schema.tls_channel_status")
			require.NoError(t, err, out)
			lines := strings.Split(out, "\n")
			assert.Equal(t, "CHANNEL\tPROPERTY\tVALUE", lines[0])
			require.Len(t, lines, 1+29*len(tc.channels), out)
			for i, ch := range tc.channels {
				assert.Equal(t, ch+"\tEnabled\tYes", lines[1+29*i])
				assert.Equal(t, ch+"\tSsl_session_cache_timeout\t604800", lines[29*(i+1)])
			}

			// The monitoring query for the expiry, and the in-use files.
			out, err = query("SELECT VALUE FROM performance_schema.tls_channel_status WHERE CHANNEL = 'mysql_main' AND PROPERTY = 'Ssl_server_not_after'")
			require.NoError(t, err, out)
			assert.Equal(t, "VALUE\n"+statusTime(f.First.Cert.NotAfter), out)
			out, err = query("SELECT property AS p, value FROM performance_schema.tls_channel_status " +
				"WHERE channel='mysql_main' AND property IN ('Current_tls_cert', 'Current_tls_ca', 'Ssl_ctx_verify_mode', 'Ssl_finished_accepts')")
			require.NoError(t, err, out)
			assert.Equal(t, "p\tvalue\nSsl_ctx_verify_mode\t5\nCurrent_tls_ca\t"+f.CAPath+"\nCurrent_tls_cert\t"+f.CertPath+
				"\nSsl_finished_accepts\t3", out, "a CA set asks for a client certificate (PEER|CLIENT_ONCE); three TLS sessions so far, this one included")
			out, err = query("SELECT COUNT(*) FROM performance_schema.tls_channel_status")
			assert.Error(t, err, out)
			out, err = query("SELECT CHANNEL, VALUE FROM performance_schema.tls_channel_status WHERE PROPERTY LIKE 'ssl\\_ctx\\_verify\\_mode' AND NOT CHANNEL = 'mysql_main'")
			require.NoError(t, err, out)
			if len(tc.channels) == 2 {
				assert.Equal(t, "CHANNEL\tVALUE\nmysql_admin\t7", out, "the cluster port requires a client certificate")
			} else {
				assert.Equal(t, "", out, "no row: the cluster channel is not served")
			}
			out, err = query("SELECT VALUE FROM performance_schema.tls_channel_status WHERE PROPRTY = 'Enabled'")
			require.Error(t, err)
			assert.Contains(t, out, "ERROR 1054 (42S22) at line 1: Unknown column 'PROPRTY' in 'where clause'")
		})
	}
}

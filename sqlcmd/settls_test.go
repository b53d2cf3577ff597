package sqlcmd

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetTLSVariables: the TLS settings MySQL lets SET GLOBAL change are
// 1229 ER_GLOBAL_VARIABLE when set as a session variable, with MySQL's
// message (mysql-test's ssl_dynamic asserts it for ssl_ca); SET GLOBAL of
// them is 1235 (ssld takes them from the config file); the read-only ones
// stay 1238 whatever the scope, as MySQL checks read-only first.
func TestSetTLSVariables(t *testing.T) {
	_, x, admin := realEnv(t, "set tls CA")
	for _, tc := range []struct {
		query string
		num   int
		msg   string
	}{
		{"SET SESSION ssl_ca = '/etc/ca.pem'", 1229, "Variable 'ssl_ca' is a GLOBAL variable and should be set with SET GLOBAL"},
		{"SET @@session.ssl_cert = 'x'", 1229, "Variable 'ssl_cert' is a GLOBAL variable and should be set with SET GLOBAL"},
		{"SET tls_version = 'TLSv1.3'", 1229, "Variable 'tls_version' is a GLOBAL variable and should be set with SET GLOBAL"},
		{"SET SESSION cluster_ssl_key = 'x'", 1229, "Variable 'cluster_ssl_key' is a GLOBAL variable and should be set with SET GLOBAL"},
		{"SET GLOBAL ssl_ca = '/etc/ca.pem'", 1235, ""},
		{"SET SESSION have_ssl = 'NO'", 1238, "Variable 'have_ssl' is a read only variable"},
		{"SET GLOBAL ssl_server_serial = '1'", 1238, "Variable 'ssl_server_serial' is a read only variable"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, err := x.Run(context.Background(), admin, tc.query)
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			assert.Equal(t, tc.num, e.Num)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, e.Message)
			}
		})
	}
}

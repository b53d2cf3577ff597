package tlsctx

import (
	"crypto/tls"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestOpenSSLCipherNames: every suite crypto/tls can negotiate has an
// OpenSSL name in the table, and each name is the one OpenSSL itself gives
// the suite's standard (IANA) name in `openssl ciphers -stdname`. Suites
// this OpenSSL build no longer ships (RC4, 3DES) must at least be absent
// from it, never listed under another name.
func TestOpenSSLCipherNames(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	out, err := exec.Command(openssl, "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	byStd := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "-" {
			byStd[f[0]] = f[2]
		}
	}
	require.Contains(t, byStd, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "openssl ciphers -stdname output: %s", out)

	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	checked := 0
	for _, cs := range all {
		t.Run(cs.Name, func(t *testing.T) {
			name, ok := openSSLCipherNames[cs.ID]
			require.True(t, ok, "no OpenSSL name for %s", cs.Name)
			assert.Equal(t, name, OpenSSLCipherName(cs.ID))
			if want, ok := byStd[cs.Name]; ok {
				assert.Equal(t, want, name, "openssl names %s", cs.Name)
				checked++
			}
		})
	}
	assert.Len(t, openSSLCipherNames, len(all), "the table has an entry for a suite crypto/tls does not list")
	assert.GreaterOrEqual(t, checked, 20, "most suites are checked against OpenSSL")
	assert.Equal(t, tls.CipherSuiteName(0x00ff), OpenSSLCipherName(0x00ff), "an unknown id keeps Go's name")
}

package tlsctx_test

import (
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

func hexInt(t *testing.T, s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	require.True(t, ok, s)
	return n
}

func TestFormatSerial(t *testing.T) {
	tests := []struct {
		name   string
		serial *big.Int
		want   string
	}{
		{"leading zero nibble kept", hexInt(t, "FF5A87636FC54E8"), "0FF5A87636FC54E8"},
		{"high bit set, no sign byte", hexInt(t, "80AB"), "80AB"},
		{"one byte", big.NewInt(1), "01"},
		{"zero", big.NewInt(0), "00"},
		{"negative", big.NewInt(-0x1AB), "-01AB"},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tlsctx.FormatSerial(tc.serial))
		})
	}
}

// TestFormatSerialMatchesOpenSSL: what `openssl x509 -serial` prints for
// the same certificates, a serial with a leading zero among them.
func TestFormatSerialMatchesOpenSSL(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	ca := pkitest.MustCA(t, "serial CA")
	dir := t.TempDir()
	for _, s := range []string{"FF5A87636FC54E8", "0ABCDEF", "80AB", "1", "7F", "00FF"} {
		leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", Serial: hexInt(t, s)})
		path := filepath.Join(dir, s+".crt")
		require.NoError(t, os.WriteFile(path, leaf.CertPEM, 0o644))
		out, err := exec.Command(openssl, "x509", "-in", path, "-noout", "-serial").CombinedOutput()
		require.NoError(t, err, string(out))
		want := strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")
		assert.Equal(t, want, tlsctx.FormatSerial(leaf.Cert.SerialNumber), "serial 0x%s", s)
	}
}

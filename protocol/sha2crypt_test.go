package protocol

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestSHA256CryptVectors: the first of Drepper's published test vectors (rounds=5000, the
// default, so the "$5$salt$" form).
func TestSHA256CryptVectors(t *testing.T) {
	tests := []struct{ salt, pw, want string }{
		{"saltstring", "Hello world!", "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, sha256Crypt([]byte(tc.pw), []byte(tc.salt), 5000))
	}
}

// TestSHA256CryptMatchesOpenSSL: `openssl passwd -5` (glibc-compatible
// SHA-crypt) agrees for passwords of several lengths.
func TestSHA256CryptMatchesOpenSSL(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	for _, pw := range []string{"x", "admin-secret", strings.Repeat("long password ", 6)} {
		salt := "0123456789abcdef"
		out, err := exec.Command(openssl, "passwd", "-5", "-salt", salt, pw).CombinedOutput()
		require.NoError(t, err, string(out))
		want := strings.TrimSpace(string(out))
		assert.Equal(t, want, "$5$"+salt+"$"+sha256Crypt([]byte(pw), []byte(salt), 5000), "password %q", pw)
	}
}

func TestCachingSHA2PasswordHash(t *testing.T) {
	h, err := CachingSHA2PasswordHash("pw")
	require.NoError(t, err)
	require.Len(t, h, 70)
	assert.True(t, strings.HasPrefix(h, "$A$005$"), h)
	p, err := parseSHA2Crypt(h)
	require.NoError(t, err)
	assert.True(t, p.matches("pw"))
	assert.False(t, p.matches("pW"))
	assert.Equal(t, h, p.String())

	for _, bad := range []string{"", "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9", h[:69], "$A$004$" + h[7:], "$A$005$" + h[7:69] + "!"} {
		_, err := parseSHA2Crypt(bad)
		assert.Error(t, err, bad)
	}
}

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
)

// TestConfigWorldWritableRefused: a world-writable config file is not
// read (mysqld ignores a world-writable my.cnf): loading, `ssld check` and
// `ssld serve` refuse it with the file, the mode and the fix. Group-writable
// is read.
func TestConfigWorldWritableRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\nusers:\n  - name: admin\n    password: pw\n    privileges: [SUPER]\n"), 0o600))
	require.NoError(t, os.Chmod(p, 0o666))
	want := "config file " + p + ": is world-writable (mode 0666)"

	_, err := config.Load(p)
	require.Error(t, err)
	contains(t, err.Error(), want, "chmod o-w")

	out, err := exec.Command(ssldBinary(t), "check", "--config", p).CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), want)

	out, err = exec.Command(ssldBinary(t), "serve", "--config", p, "--listen", "127.0.0.1:0").CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), want)

	require.NoError(t, os.Chmod(p, 0o664))
	_, err = config.Load(p)
	require.NoError(t, err, "group-writable is read")
}

// TestConfigSecretFileModes: a caching_sha2_password private key that
// others can read is named in a warning (ssld check, and every reload's
// warnings), with its mode and the fix; 0640 and 0600 are quiet.
func TestConfigSecretFileModes(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPath := filepath.Join(dir, "private_key.pem")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	p := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\ncaching_sha2_password_private_key_path: private_key.pem\n"), 0o600))
	want := "caching_sha2_password_private_key_path \"" + keyPath + "\" is readable by others (mode 0644); chmod o-rwx it (0600, or 0640 with the group ssld runs as)"

	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o604, true}, {0o640, false}, {0o600, false}} {
		require.NoError(t, os.Chmod(keyPath, tc.mode))
		out, _ := exec.Command(ssldBinary(t), "check", "--config", p).CombinedOutput()
		src := config.NewSource(p, config.SourceOptions{})
		_, warnings, err := src.LoadWithWarnings(ctxT(t))
		require.NoError(t, err)
		if tc.warn {
			assert.Contains(t, string(out), "caching_sha2_password_private_key_path", "mode %04o", tc.mode)
			assert.Contains(t, string(out), "is readable by others", "mode %04o", tc.mode)
			assert.NotEmpty(t, warnings)
		} else {
			assert.NotContains(t, string(out), "caching_sha2_password_private_key_path", "mode %04o", tc.mode)
			assert.Empty(t, warnings)
		}
		if tc.mode == 0o644 {
			assert.Contains(t, warnings, want)
		}
	}
}

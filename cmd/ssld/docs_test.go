package main

// Tests that run what docs/configuration.md and docs/embedding.md show, as
// they are written: an example that stops loading or compiling fails here.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/protocol"
)

// docBlocks returns the fenced code blocks of language lang in the
// repository file doc.
func docBlocks(t *testing.T, doc, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), doc))
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestConfigurationDocExamples loads the INI example and the Users example
// of docs/configuration.md as written (the YAML one with its "*..."
// placeholders replaced by real hashes, and a certificate added so that
// ssld check has material to check).
func TestConfigurationDocExamples(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.MustCA(t, "doc CA")
	leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "certs"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "certs/server.crt"), leaf.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "certs/server.key"), leaf.KeyPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "certs/ca.crt"), ca.CertPEM, 0o644))

	ini := docBlocks(t, "docs/configuration.md", "ini")
	require.Len(t, ini, 1)
	p := filepath.Join(dir, "ssld.cnf")
	require.NoError(t, os.WriteFile(p, []byte(ini[0]), 0o600))
	c, err := loadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:3307", c.Listen)
	assert.Equal(t, filepath.Join(dir, "certs/server.crt"), c.SSLCert)
	assert.Equal(t, filepath.Join(dir, "certs/server.key"), c.SSLKey)
	assert.Equal(t, []string{"10.0.0.1:3307"}, c.Cluster.Aggregators)
	assert.Equal(t, []string{"10.0.0.2:3307", "10.0.0.3:3307"}, c.Cluster.Leaves)
	require.Len(t, c.Users, 1)
	assert.Equal(t, userConfig{Name: "admin", PasswordHash: "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9",
		Privileges: []string{"SUPER"}, RequireSSL: true}, c.Users[0])
	rep := runCheck(t.Context(), p, 0, time.Now())
	assert.Empty(t, rep.Problems)

	// The mistake the INI section warns about fails loudly, not by
	// starting on defaults.
	bad := strings.Replace(ini[0], "[ssld]\n", "[ssld]   # not [client]\n", 1)
	require.NotEqual(t, ini[0], bad)
	require.NoError(t, os.WriteFile(p, []byte(bad), 0o600))
	_, err = loadConfig(p)
	require.ErrorContains(t, err, `must not contain "]"`)

	var users string
	for _, b := range docBlocks(t, "docs/configuration.md", "yaml") {
		if strings.HasPrefix(b, "users:\n") {
			users = b
		}
	}
	require.NotEmpty(t, users, "the Users example")
	sha2, err := protocol.CachingSHA2PasswordHash("example")
	require.NoError(t, err)
	users = strings.Replace(users, `password_hash: "*..."`, "password_hash: '"+sha2+"'", 1)
	y := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(y, []byte("ssl_cert: certs/server.crt\nssl_key: certs/server.key\nssl_ca: certs/ca.crt\n"+users), 0o600))
	c, err = loadConfig(y)
	require.NoError(t, err)
	var names []string
	for _, u := range c.Users {
		names = append(names, u.Name+"/"+cmpOr(u.Plugin, "mysql_native_password"))
	}
	assert.Equal(t, []string{"admin/mysql_native_password", "automation/caching_sha2_password",
		"monitor/mysql_native_password", "root/unix_socket"}, names)
	rep = runCheck(t.Context(), y, 0, time.Now())
	assert.Empty(t, rep.Problems)
	assert.True(t, rep.OK)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestEmbeddingDocCompiles compiles the Go example of
// docs/embedding.md as a program of this module (through an overlay, so
// nothing is written into the tree).
func TestEmbeddingDocCompiles(t *testing.T) {
	blocks := docBlocks(t, "docs/embedding.md", "go")
	require.NotEmpty(t, blocks)
	gobin := testenv.LookPath(t, "go")
	for i, b := range blocks {
		src := `package main

import (
	"context"
	"crypto/tls"
	"log"
	"log/slog"

	"github.com/ssld/ssld/tlsctx"
)

var (
	_ = tls.Listen
	_ = log.Print
	_ = slog.Default
	_ = tlsctx.New
)

func main() {
	ctx := context.Background()
	_ = ctx
` + b + `}
`
		dir := t.TempDir()
		file := filepath.Join(dir, "main.go")
		require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
		// A package path inside the module that does not exist on disk.
		virtual := filepath.Join(repoRoot(t), "internal", "embeddocexample", "main.go")
		ov, err := json.Marshal(map[string]map[string]string{"Replace": {virtual: file}})
		require.NoError(t, err)
		overlay := filepath.Join(dir, "overlay.json")
		require.NoError(t, os.WriteFile(overlay, ov, 0o644))
		cmd := exec.Command(gobin, "build", "-overlay", overlay, "-o", os.DevNull, "./internal/embeddocexample")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "docs/embedding.md Go block %d:\n%s\n%s", i+1, out, src)
	}
}

// TestBadLogSettingsNamed: a bad log_level or log_format is an error that
// names the file (or the flag that gave it), at start-up and in ssld
// check, as docs/configuration.md says.
func TestBadLogSettingsNamed(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, flagLevel, want string }{
		{body: "log_level: loud\n", want: `config file %s: log_level "loud": want debug, info, warn or error`},
		{body: "log_format: xml\n", want: `config file %s: log_format "xml": want text or json`},
		{body: "log_level: info\n", flagLevel: "loud", want: `--log-level "loud": want debug, info, warn or error`},
	} {
		p := filepath.Join(dir, "ssld.yaml")
		require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\n"+tc.body), 0o600))
		want := strings.Replace(tc.want, "%s", p, 1)
		_, err := startNode(t.Context(), serveOptions{config: p, logOut: os.Stderr, logLevel: tc.flagLevel}, nil)
		require.Error(t, err, tc.body)
		assert.Equal(t, want, err.Error())
		if tc.flagLevel == "" {
			rep := runCheck(t.Context(), p, 0, time.Now())
			assert.False(t, rep.OK)
			assert.Equal(t, []string{want}, rep.Problems)
		}
	}
}

// TestINISections: keys before any section are read (as in my.cnf), and a
// file whose settings are all in sections ssld ignores is refused, naming
// them.
func TestINISections(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.cnf")
	require.NoError(t, os.WriteFile(p, []byte("listen = 127.0.0.1:4000\nrole = leaf\n"), 0o600))
	c, err := loadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4000", c.Listen)
	assert.Equal(t, "leaf", c.Role)

	require.NoError(t, os.WriteFile(p, []byte("[client]\nuser = admin\n[mysql]\nport = 3307\n"), 0o600))
	_, err = loadConfig(p)
	require.ErrorContains(t, err, "no [ssld] or [mysqld] section")
	assert.ErrorContains(t, err, "[client], [mysql]")
}

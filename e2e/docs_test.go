package e2e

// Tests that run what docs/configuration.md and docs/embedding.md show, as
// they are written: an example that stops loading or compiling fails here.

import (
	"context"
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

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/node"
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
	writeDevFolder(t, dir, ca, leaf)

	ini := docBlocks(t, "docs/configuration.md", "ini")
	require.Len(t, ini, 1)
	p := filepath.Join(dir, "ssld.cnf")
	require.NoError(t, os.WriteFile(p, []byte(ini[0]), 0o600))
	c, err := config.Load(p)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:3307", c.Listen)
	assert.Equal(t, filepath.Join(dir, "certs/server.crt"), c.SSLCert)
	assert.Equal(t, filepath.Join(dir, "certs/server.key"), c.SSLKey)
	assert.Equal(t, []string{"10.0.0.1:3307"}, c.Cluster.Aggregators)
	assert.Equal(t, []string{"10.0.0.2:3307", "10.0.0.3:3307"}, c.Cluster.Leaves)
	require.Len(t, c.Users, 1)
	assert.Equal(t, config.User{Name: "admin", PasswordHash: "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9",
		Privileges: []string{"SUPER"}, RequireSSL: true}, c.Users[0])
	rep := runCheck(t, p, 0)
	assert.Empty(t, rep.Problems)

	// The mistake the INI section warns about fails loudly, not by
	// starting on defaults.
	bad := strings.Replace(ini[0], "[ssld]\n", "[ssld]   # not [client]\n", 1)
	require.NotEqual(t, ini[0], bad)
	require.NoError(t, os.WriteFile(p, []byte(bad), 0o600))
	_, err = config.Load(p)
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
	c, err = config.Load(y)
	require.NoError(t, err)
	var names []string
	for _, u := range c.Users {
		names = append(names, u.Name+"/"+cmpOr(u.Plugin, "mysql_native_password"))
	}
	assert.Equal(t, []string{"admin/mysql_native_password", "automation/caching_sha2_password",
		"monitor/mysql_native_password", "root/unix_socket"}, names)
	assert.Empty(t, c.UnknownKeys(), "every key of the example is one ssld reads")
	rep = runCheck(t, y, 0)
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
		_, err := node.Start(t.Context(), node.Options{Config: p, LogOut: os.Stderr, LogLevel: tc.flagLevel}, nil)
		require.Error(t, err, tc.body)
		assert.Equal(t, want, err.Error())
		if tc.flagLevel == "" {
			rep := runCheck(t, p, 0)
			assert.False(t, rep.OK)
			assert.Equal(t, []string{want}, rep.Problems)
		}
	}
}

// ssldWord is ssld as the command of a line or of a $(...).
var ssldWord = regexp.MustCompile(`(^|\$\()ssld `)

// TestOperationsNodeCommands runs the node commands of docs/operations.md
// as written, with /etc/ssld/ssld.yaml, /run/ssld/ssld.sock and db1:3307
// pointed at a test node and the OS user for root (its unix_socket
// account): the cron `ssld status` line (mail only when fewer than 14 days
// are left), the runbook's `ssld reload` lines, `mariadb -S ... -u root`,
// the plain mysql line (verified TLS), and the runbook's openssl line, which must print the served serial and
// end on its own.
func TestOperationsNodeCommands(t *testing.T) {
	testenv.LookPath(t, "mariadb")
	testenv.LookPath(t, "openssl")
	tn, me := unixSocketNode(t)
	t.Setenv("SSLD_PASSWORD", "")
	bin := ssldBinary(t)
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	inline := func(re string) string {
		m := regexp.MustCompile("`("+re+")`").FindAllStringSubmatch(string(doc), -1)
		require.NotEmpty(t, m, "docs/operations.md: no `%s`", re)
		return m[0][1]
	}
	host, port := splitAddr(t, tn.Addr)
	local := strings.NewReplacer("/etc/ssld/ssld.yaml", tn.Config, "/run/ssld/ssld.sock", tn.Socket,
		"db1:3307", host+":"+port, " -u root ", " -u "+me+" ")
	run := func(line string) (int, string) {
		t.Helper()
		line = local.Replace(line)
		line = ssldWord.ReplaceAllString(line, "${1}"+bin+" ")
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		// mail is the cron line's: print its arguments and its body.
		cmd := exec.CommandContext(ctx, "sh", "-c", "mail() { echo MAILED \"$@\"; cat; }; "+line)
		// Standard input stays open, as a terminal's does: a command that
		// waits for input does not end.
		stdin, keep, err := os.Pipe()
		require.NoError(t, err)
		defer stdin.Close()
		defer keep.Close()
		cmd.Stdin = stdin
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		require.NoError(t, ctx.Err(), "did not end: %s\n%s", line, out)
		return exitStatus(t, err, line), string(out)
	}

	cron := docCommand(t, "out=$(ssld status --config ")
	code, out := run(cron)
	assert.Equal(t, 0, code, out)
	assert.NotContains(t, out, "MAILED", "healthy: no mail")

	serial := tn.Rotate()
	for _, l := range []string{inline(`ssld reload --config /etc/ssld/ssld.yaml`), inline(`ssld reload --socket /run/ssld/ssld.sock`)} {
		code, out = run(l)
		assert.Equal(t, 0, code, "%s: %s", l, out)
		assert.True(t, strings.HasPrefix(out, "ok: "), "%s: %s", l, out)
	}
	assert.Equal(t, serial, tn.ServedSerial())

	serial = tn.Rotate()
	l := inline(`mariadb -S /run/ssld/ssld.sock -u root -e 'SSL_RELOAD'`)
	code, out = run(l)
	assert.Equal(t, 0, code, "%s: %s", l, out)
	assert.Equal(t, serial, tn.ServedSerial())

	// The plain mysql line, with the password instead of the prompt.
	serial = tn.Rotate()
	l = strings.NewReplacer("db1.example.com", host, "-P 3307", "-P "+port, "/etc/ssld/ca.crt", filepath.Join(tn.Dir, "certs/ca.crt"),
		" -p ", " -p"+adminPW+" ").Replace(docCommand(t, "mysql -h db1.example.com "))
	code, out = run(l)
	assert.Equal(t, 0, code, "%s: %s", l, out)
	assert.Equal(t, serial, tn.ServedSerial())

	l = inline(`openssl s_client -starttls mysql [^` + "`" + `]*`)
	code, out = run(l)
	assert.Equal(t, 0, code, "%s: %s", l, out)
	assert.Equal(t, "serial="+serial, strings.TrimSpace(out), l)

	tn.RotateFor(5 * 24 * time.Hour)
	code, out = run(inline(`ssld reload --config /etc/ssld/ssld.yaml`))
	require.Equal(t, 0, code, out)
	code, out = run(cron)
	assert.Equal(t, 0, code, "the mail command's status: %s", out)
	assert.Contains(t, out, "MAILED -s ssld: ", "fewer than 14 days left: mailed")
	assert.Contains(t, out, "unhealthy: certificate has 5.0 days left (< 14)", "the mail's body is the status report")
}

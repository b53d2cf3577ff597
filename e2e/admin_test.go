package e2e

import (
	"bytes"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestReloadAndStatusCommands: `ssld reload` and `ssld status` over the Unix
// socket and over TCP+TLS, with exit codes for hooks and cron.
func TestReloadAndStatusCommands(t *testing.T) {
	tn := newTestNode(t, "")
	t.Setenv("SSLD_PASSWORD", adminPW)

	newSerial := tn.Rotate()
	code, out, errOut := runCLI(t, "reload", "--config", tn.Config)
	require.Equal(t, 0, code, out+errOut)
	assert.True(t, strings.HasPrefix(out, "ok: reloaded, "), out)
	assert.Contains(t, out, newSerial)
	assert.Equal(t, newSerial, tn.ServedSerial())

	code, out, _ = runCLI(t, "status", "--socket", tn.Socket)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "serial:        "+newSerial)
	assert.Contains(t, out, "last_error:    -")

	// Over TCP with TLS verified against the CA.
	host, port := splitAddr(t, tn.Addr)
	p, _ := strconv.Atoi(port)
	code, out, errOut = runCLI(t, "reload", "--host", host, "--port", strconv.Itoa(p), "--ssl-ca", filepath.Join(tn.Dir, "certs/ca.crt"))
	require.Equal(t, 0, code, out+errOut)

	// Certificate closer to expiry than --min-days.
	tn.RotateFor(24 * time.Hour)
	code, _, _ = runCLI(t, "reload", "--socket", tn.Socket)
	require.Equal(t, 0, code)
	code, out, _ = runCLI(t, "status", "--socket", tn.Socket, "--min-days", "30")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "days left")
}

// TestReloadExitCodes pins every exit code of `ssld reload` and `ssld
// status` (0 reloaded/unchanged, 1 refused by the node, 2 unreachable,
// login failed, usage), each with the line that says which.
func TestReloadExitCodes(t *testing.T) {
	tn := newTestNode(t, "")
	t.Setenv("SSLD_PASSWORD", adminPW)
	gone := filepath.Join(tn.Dir, "nope.sock")
	crt := filepath.Join(tn.Dir, "certs/server.crt")

	steps := []struct {
		name    string
		prepare func()
		args    []string
		env     map[string]string
		code    int
		prefix  string // of stdout
		want    string // in stdout+stderr
	}{
		{name: "reloaded", prepare: func() { tn.Rotate() }, args: []string{"reload", "--socket", tn.Socket}, code: 0, prefix: "ok: reloaded, "},
		{name: "unchanged", args: []string{"reload", "--socket", tn.Socket}, code: 0, prefix: "ok: unchanged, "},
		{name: "status healthy", args: []string{"status", "--socket", tn.Socket}, code: 0, prefix: "serial:"},
		{name: "refused files", prepare: func() { require.NoError(t, os.WriteFile(crt, []byte("not a certificate"), 0o644)) },
			args: []string{"reload", "--socket", tn.Socket}, code: 1, prefix: "failed: ", want: crt},
		{name: "status after refused reload", args: []string{"status", "--socket", tn.Socket}, code: 1, want: "unhealthy: last reload failed"},
		{name: "reload unreachable", args: []string{"reload", "--socket", gone}, code: 2, prefix: "failed: cannot log in"},
		{name: "status unreachable", args: []string{"status", "--socket", gone}, code: 2, prefix: "failed: "},
		{name: "reload wrong password", args: []string{"reload", "--socket", tn.Socket}, env: map[string]string{"SSLD_PASSWORD": "wrong"},
			code: 2, prefix: "failed: cannot log in", want: "1045"},
		{name: "status wrong password", args: []string{"status", "--socket", tn.Socket}, env: map[string]string{"SSLD_PASSWORD": "wrong"},
			code: 2, want: "1045"},
		{name: "reload without SUPER", args: []string{"reload", "--socket", tn.Socket, "-u", "monitor"}, env: map[string]string{"SSLD_PASSWORD": monitorPW},
			code: 2, prefix: "failed: ", want: "1227"},
		{name: "reload usage", args: []string{"reload"}, code: 2, want: "give --socket"},
		{name: "status usage", args: []string{"status", "extra"}, code: 2},
	}
	for _, st := range steps {
		if st.prepare != nil {
			st.prepare()
		}
		for k, v := range st.env {
			t.Setenv(k, v)
		}
		code, out, errOut := runCLI(t, st.args...)
		assert.Equal(t, st.code, code, "%s: %s%s", st.name, out, errOut)
		assert.True(t, strings.HasPrefix(out, st.prefix), "%s: %q", st.name, out)
		assert.Contains(t, out+errOut, st.want, st.name)
		if code != 0 && strings.HasPrefix(out, "failed: ") {
			assert.Equal(t, 1, strings.Count(out, "\n"), "%s: one line: %q", st.name, out)
		}
		assert.NotContains(t, out+errOut, adminPW, st.name)
		t.Setenv("SSLD_PASSWORD", adminPW)
	}
}

// TestSerialAsOpenSSLPrintsIt: for a serial with a leading zero nibble,
// `ssld reload`, `ssld status`, @@ssl_server_serial and SHOW SSL STATUS all
// print what `openssl x509 -serial` prints for the served file.
func TestSerialAsOpenSSLPrintsIt(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	tn := newTestNode(t, "")
	serial, ok := new(big.Int).SetString("0FF5A87636FC54E8", 16)
	require.True(t, ok)
	tn.RotateTo(tn.IssueLeaf(pki.LeafOptions{Serial: serial}))
	crt := filepath.Join(tn.Dir, devServerCert)
	o, err := exec.Command(openssl, "x509", "-in", crt, "-noout", "-serial").CombinedOutput()
	require.NoError(t, err, string(o))
	want := strings.TrimPrefix(strings.TrimSpace(string(o)), "serial=")
	require.Equal(t, "0FF5A87636FC54E8", want)

	t.Setenv("SSLD_PASSWORD", adminPW)
	code, out, errOut := runCLI(t, "reload", "--config", tn.Config)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "serial "+want+",")
	code, out, errOut = runCLI(t, "status", "--config", tn.Config)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "serial:        "+want+"\n")

	db := tn.SocketDB("plain", plainPW)
	assert.Equal(t, want, variable(t, db, "ssl_server_serial"))
	cols, rows := nodetest.QueryTable(t, db, "SHOW SSL STATUS")
	require.NotEmpty(t, rows)
	for n, row := range rows {
		for i, c := range cols {
			if c == "Serial" {
				assert.Equal(t, want, row[i], "SHOW SSL STATUS row %d", n)
			}
		}
	}
	assert.Contains(t, cols, "Serial")
}

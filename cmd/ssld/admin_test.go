package main

import (
	"bytes"
	"database/sql"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

	newSerial := tn.rotate()
	code, out, errOut := runCLI(t, "reload", "--config", tn.config)
	require.Equal(t, 0, code, out+errOut)
	assert.True(t, strings.HasPrefix(out, "ok: "), out)
	assert.Contains(t, out, newSerial)
	assert.Equal(t, newSerial, tn.servedSerial())

	code, out, _ = runCLI(t, "status", "--socket", tn.socket)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "serial:        "+newSerial)
	assert.Contains(t, out, "last_error:    -")

	// Over TCP with TLS verified against the CA.
	host, port := splitAddr(t, tn.addr)
	p, _ := strconv.Atoi(port)
	code, out, errOut = runCLI(t, "reload", "--host", host, "--port", strconv.Itoa(p), "--ssl-ca", filepath.Join(tn.dir, "certs/ca.crt"))
	require.Equal(t, 0, code, out+errOut)

	// A bad file: exit 1 with a one-line reason; status says unhealthy.
	crt := filepath.Join(tn.dir, "certs/server.crt")
	require.NoError(t, os.WriteFile(crt, []byte("not a certificate"), 0o644))
	code, out, _ = runCLI(t, "reload", "--socket", tn.socket)
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(out, "failed: "), out)
	assert.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
	assert.Contains(t, out, crt)
	code, out, _ = runCLI(t, "status", "--socket", tn.socket)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "unhealthy: last reload failed")
	assert.Equal(t, newSerial, tn.servedSerial())

	// Certificate closer to expiry than --min-days.
	tn.rotate()
	code, _, _ = runCLI(t, "reload", "--socket", tn.socket)
	require.Equal(t, 0, code)
	code, out, _ = runCLI(t, "status", "--socket", tn.socket, "--min-days", "30")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "days left")

	// Usage errors and an unreachable node exit 2; the password is never printed.
	code, _, errOut = runCLI(t, "reload")
	assert.Equal(t, 2, code, errOut)
	code, out, errOut = runCLI(t, "status", "--socket", filepath.Join(tn.dir, "nope.sock"))
	assert.Equal(t, 2, code)
	assert.NotContains(t, out+errOut, adminPW)
}

// TestSerialAsOpenSSLPrintsIt: for a serial with a leading zero nibble,
// `ssld reload`, `ssld status`, @@ssl_server_serial and SHOW SSL STATUS all
// print what `openssl x509 -serial` prints for the served file.
func TestSerialAsOpenSSLPrintsIt(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	tn := newTestNode(t, "")
	serial, ok := new(big.Int).SetString("0FF5A87636FC54E8", 16)
	require.True(t, ok)
	leaf := tn.ca.MustIssue(t, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Serial: serial})
	crt := filepath.Join(tn.dir, "certs/server.crt")
	require.NoError(t, pki.WriteFile(crt, leaf.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(tn.dir, "certs/server.key"), leaf.KeyPEM, 0o600))
	o, err := exec.Command(openssl, "x509", "-in", crt, "-noout", "-serial").CombinedOutput()
	require.NoError(t, err, string(o))
	want := strings.TrimPrefix(strings.TrimSpace(string(o)), "serial=")
	require.Equal(t, "0FF5A87636FC54E8", want)

	t.Setenv("SSLD_PASSWORD", adminPW)
	code, out, errOut := runCLI(t, "reload", "--config", tn.config)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "serial "+want+",")
	code, out, errOut = runCLI(t, "status", "--config", tn.config)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "serial:        "+want+"\n")

	db := tn.socketDB("plain", plainPW)
	assert.Equal(t, want, variable(t, db, "ssl_server_serial"))
	rows, err := db.Query("SHOW SSL STATUS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for i, c := range cols {
			if c == "Serial" {
				assert.Equal(t, want, vals[i].String, "SHOW SSL STATUS row %d", n)
			}
		}
		n++
	}
	require.NoError(t, rows.Err())
	assert.Positive(t, n)
}

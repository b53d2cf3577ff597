package e2e

// The fan-out against nodes that lie: text with terminal escapes where a
// serial, a fingerprint or an error goes, and answers that never end. The
// runner must print nothing raw (table and JSON) and must not grow with
// what a node sends.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// evil is what a lying node puts where text goes: OSC (retitle), CSI
// (clear screen) in C0 and C1 form, BEL, a bidi override and invalid UTF-8.
const evil = "\x1b]0;owned\x07\x1b[2J\u009b2J\u202egnp.exe\xff"

// rawEscapes are the byte sequences that must never reach the terminal.
var rawEscapes = []string{"\x1b", "\x07", "\u009b", "\u202e", "\xff"}

// liar answers like an ssld node, with lies: CHECK TLS with escapes for a
// serial and fingerprint, SSL_RELOAD refused with escapes in the message,
// and SHOW GLOBAL VARIABLES streaming rows (huge or countless) until the
// client hangs up. sent counts the rows it managed to send.
type liar struct {
	rowBytes int   // size of each streamed row's value
	maxRows  int   // rows to stream at most
	sent     int64 // rows written (atomic)
}

func (l *liar) answer(query string, cb mysql.ResultSpoolFn) error {
	q := strings.ToLower(query)
	switch {
	case strings.Contains(q, "@@version"):
		return cb(&sqltypes.Result{Fields: []*querypb.Field{textField("@@version"), textField("@@version_comment")},
			Rows: [][]sqltypes.Value{textRow("8.0.35-ssld", "ssld "+evil)}}, false)
	case strings.HasPrefix(q, "show global variables"):
		fields := []*querypb.Field{textField("Variable_name"), textField("Value")}
		if err := cb(&sqltypes.Result{Fields: fields}, false); err != nil {
			return err
		}
		value := strings.Repeat("x", l.rowBytes)
		for i := 0; i < l.maxRows; i++ {
			if err := cb(&sqltypes.Result{Rows: [][]sqltypes.Value{textRow("ssl_server_fingerprint", value)}}, false); err != nil {
				return err
			}
			atomic.AddInt64(&l.sent, 1)
		}
		return nil
	case q == "check tls":
		return cb(&sqltypes.Result{Fields: []*querypb.Field{textField("Channel"), textField("Status"), textField("Serial"), textField("Fingerprint_SHA256"),
			textField("Not_after"), textField("Issuer"), textField("Changed"), textField("Message")},
			Rows: [][]sqltypes.Value{textRow("client", "ready", "0A"+evil, evil+strings.Repeat("a", 60), "2030-01-01 00:00:00.000000",
				"CN="+evil, "YES", evil)}}, false)
	case q == "ssl_reload":
		return mysql.NewSQLError(3889, "HY000", "Failed to set up SSL: %s", evil+strings.Repeat(" very long reason", 200))
	}
	return cb(&sqltypes.Result{}, false)
}

// runClusterRSS runs `ssld cluster ARGS` and returns its exit code, output
// and peak memory: the highest VmHWM (resident set high-water mark) read
// from /proc every few milliseconds while it runs. (The rusage of the
// child is no use here: Go starts children with vfork, and Linux carries
// the parent's high-water mark into the child's ru_maxrss at exec.)
func runClusterRSS(t *testing.T, args ...string) (int, string, string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssldBinary(t), append([]string{"cluster"}, args...)...)
	cmd.Env = append(os.Environ(), "SSLD_PASSWORD=x")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	var peak atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if hwm := vmHWM(status); hwm > peak.Load() {
				peak.Store(hwm)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-polled
	code := exitStatus(t, err, "ssld cluster")
	return code, out.String(), errb.String(), peak.Load()
}

// vmHWM reads VmHWM (bytes) from a /proc/PID/status file; 0 when it cannot.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}

// TestClusterLyingNode: a node that calls itself ssld and lies.
//
//   - reload: its refusal carries escapes and is 3 KiB long: the table
//     escapes and wraps it within 160 columns, the JSON escapes every
//     rune a terminal acts on (C1 and bidi included);
//   - --dry-run: CHECK TLS hands back escapes as serial and fingerprint:
//     refused as malformed, never printed;
//   - status: SHOW GLOBAL VARIABLES streams 1 MiB rows (64 MiB in all),
//     or 200,000 small rows: the runner stops reading at its bound, says
//     so, and its peak memory stays far below what the node sent.
func TestClusterLyingNode(t *testing.T) {
	t.Parallel()
	ca := pkitest.MustCA(t, "liar CA")
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, ca.CertPEM, 0o644))
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "liar", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	small := &liar{rowBytes: 64, maxRows: 1}
	addr := startFakeNode(t, leaf, "8.0.35-ssld", small.answer)
	base := []string{"--topology", "", "--user", "admin", "--ssl-ca", caFile, "--timeout", "5s"}
	topo := func(addrs ...string) string {
		p := filepath.Join(t.TempDir(), "topology.yaml")
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf("leaves: [%s]\n", strings.Join(addrs, ", "))), 0o644))
		return p
	}
	args := func(cmd string, extra ...string) []string {
		a := append([]string{cmd}, base...)
		a[2] = topo(addr)
		return append(a, extra...)
	}
	noRaw := func(what, out string) {
		t.Helper()
		for _, e := range rawEscapes {
			assert.NotContains(t, out, e, "%s: a raw %q reached the terminal", what, e)
		}
	}

	code, out, stderr, _ := runClusterRSS(t, args("reload")...)
	assert.Equal(t, 1, code, stderr)
	noRaw("reload table", out+stderr)
	assert.Contains(t, out, `Failed to set up SSL: \x1b]0;owned\a\x1b[2J\u009b2J\u202egnp.exe\xff very long`)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		assert.LessOrEqual(t, len([]rune(l)), 160, "%q", l)
	}
	code, out, stderr, _ = runClusterRSS(t, args("reload", "--format", "json")...)
	assert.Equal(t, 1, code, stderr)
	noRaw("reload json", out+stderr)
	var rep clusterReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, "failed", rep.Nodes[0].Status)
	assert.Contains(t, rep.Nodes[0].Error, strings.ToValidUTF8(evil, "\ufffd"), "JSON keeps the text, escaped")
	assert.LessOrEqual(t, len(rep.Nodes[0].Error), 600, "a node's message is cut at 512 bytes")

	code, out, stderr, _ = runClusterRSS(t, args("reload", "--dry-run", "--format", "json")...)
	assert.Equal(t, 1, code, stderr)
	noRaw("dry run json", out+stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, "failed", rep.Nodes[0].Status)
	assert.Contains(t, rep.Nodes[0].Error, "CHECK TLS: malformed answer")
	assert.Empty(t, rep.Nodes[0].WouldServe.Serial, "nothing of the lie is kept")
	code, out, stderr, _ = runClusterRSS(t, args("reload", "--dry-run")...)
	assert.Equal(t, 1, code, stderr)
	noRaw("dry run table", out+stderr)

	// Streams: 64 rows of 1 MiB, and 200,000 rows of 64 bytes.
	huge := &liar{rowBytes: 1 << 20, maxRows: 64}
	many := &liar{rowBytes: 64, maxRows: 200_000}
	hugeAddr := startFakeNode(t, leaf, "8.0.35-ssld", huge.answer)
	manyAddr := startFakeNode(t, leaf, "8.0.35-ssld", many.answer)
	a := append([]string{"status"}, base...)
	a[2] = topo(hugeAddr, manyAddr)
	code, out, stderr, rss := runClusterRSS(t, append(a, "--format", "json")...)
	assert.Equal(t, 1, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	h, m := rep.Nodes[0], rep.Nodes[1]
	assert.Equal(t, "failed", h.Status)
	assert.Contains(t, h.Error, "the node sent more than 262144 bytes for SHOW GLOBAL VARIABLES")
	assert.Equal(t, "failed", m.Status)
	assert.Contains(t, m.Error, "the node sent more than 64 rows for SHOW GLOBAL VARIABLES")
	assert.Contains(t, h.NextStep, "check what listens at this address")
	assert.Less(t, atomic.LoadInt64(&huge.sent), int64(16), "the runner hung up instead of reading on")
	assert.Less(t, atomic.LoadInt64(&many.sent), int64(100_000))
	t.Logf("runner peak RSS %d MiB; rows sent: huge %d, many %d", rss>>20, atomic.LoadInt64(&huge.sent), atomic.LoadInt64(&many.sent))
	require.NotZero(t, rss, "no VmHWM read from /proc")
	assert.Less(t, rss, int64(48<<20), "the runner's peak memory must not follow what the node sends (64 MiB)")
}

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/sysvars"
)

// TestSSLHistoryOverWire: SHOW SSL HISTORY, read with the mysql CLI by an
// account without privileges, lists an SSL_RELOAD of a renewed
// certificate, a SIGHUP and a refused reload (a certificate that does not
// match the key) newest first, after the start-up load; the refused one
// carries its error and no serial change, the SQL ones name user@host.
func TestSSLHistoryOverWire(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	n := newChildNode(t, goodLeaf)
	cmd := n.start(t)
	n.waitSocket(t)
	sock := func(user, pw, q string) (string, error) {
		t.Helper()
		return mysqlSocket(mysqlBin, n.socket, user, pw, "--batch", "-e", q)
	}
	// history is the client channel's rows, columns split.
	history := func() [][]string {
		t.Helper()
		out, err := sock("monitor", monitorPW, "SHOW SSL HISTORY")
		require.NoError(t, err, out)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		require.Equal(t, "Time\tTrigger\tChannel\tResult\tError\tGeneration\tOld_serial\tNew_serial\t"+
			"Old_fingerprint_SHA256\tNew_fingerprint_SHA256\tCA_added\tCA_removed", lines[0])
		var rows [][]string
		for _, l := range lines[1:] {
			row := strings.Split(l, "\t")
			require.Len(t, row, 12, l)
			if row[2] == "client" {
				rows = append(rows, row)
			}
		}
		return rows
	}
	require.Len(t, history(), 1, "the start-up load")

	renewed := goodLeaf(n.ca)
	n.write(t, renewed)
	out, err := sock("admin", adminPW, "SSL_RELOAD")
	require.NoError(t, err, out)

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testenv.Eventually(t, 15*time.Second, func() bool { return len(history()) == 3 },
		"the SIGHUP reload never reached SHOW SSL HISTORY:\n%s", n.log)

	other, err := n.ca.Issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}})
	require.NoError(t, err)
	require.NoError(t, pki.WriteFile(filepath.Join(n.dir, devServerCert), other.CertPEM, 0o644))
	out, err = sock("admin", adminPW, "SSL_RELOAD")
	require.Error(t, err, "a certificate that does not match the key is refused")
	assert.Contains(t, out, "ERROR 3888")

	rows := history()
	require.Len(t, rows, 4, "%q", rows)
	const trigger, result, errCol, gen, oldSerial, newSerial, oldFP, newFP = 1, 3, 4, 5, 6, 7, 8, 9
	refused, signal, sql, startup := rows[0], rows[1], rows[2], rows[3]

	assert.Equal(t, "startup", startup[trigger])
	assert.Equal(t, "ok", startup[result])
	assert.Equal(t, "1", startup[gen])
	assert.Equal(t, "NULL", startup[oldSerial])

	assert.Equal(t, "sql admin@localhost", sql[trigger])
	assert.Equal(t, "ok", sql[result])
	assert.Equal(t, "NULL", sql[errCol])
	assert.Equal(t, "2", sql[gen])
	assert.Equal(t, startup[newSerial], sql[oldSerial])
	assert.Equal(t, startup[newFP], sql[oldFP])
	assert.Equal(t, serialOf(renewed.Cert), sql[newSerial])
	sum := sha256.Sum256(renewed.Cert.Raw)
	assert.Equal(t, hex.EncodeToString(sum[:]), sql[newFP])

	assert.Equal(t, "signal", signal[trigger])
	assert.Equal(t, "unchanged", signal[result])
	assert.Equal(t, "2", signal[gen])
	assert.Equal(t, serialOf(renewed.Cert), signal[oldSerial])
	assert.Equal(t, serialOf(renewed.Cert), signal[newSerial])

	assert.Equal(t, "sql admin@localhost", refused[trigger])
	assert.Equal(t, "failed", refused[result])
	assert.Contains(t, refused[errCol], "ssl_key")
	assert.Equal(t, "2", refused[gen])
	assert.Equal(t, serialOf(renewed.Cert), refused[oldSerial], "nothing was swapped")
	assert.Equal(t, serialOf(renewed.Cert), refused[newSerial], "nothing was swapped")
	assert.Equal(t, refused[oldFP], refused[newFP])
	for _, row := range rows {
		_, err := time.Parse(sysvars.TimeFormat, row[0])
		assert.NoError(t, err, "Time %q", row[0])
	}

	// The reload's log line carries the same facts.
	assert.Regexp(t, `msg="tls reload" result=ok channel=client .*trigger="sql admin@localhost" serial=`+
		serialOf(renewed.Cert)+` fingerprint=`+sql[newFP]+` .*old_serial=`+sql[oldSerial]+` old_fingerprint=`+sql[oldFP], n.log.String())
}

// TestSSLHistoryWatch: a reload by the file watcher is recorded with the
// trigger watch and the new serial.
func TestSSLHistoryWatch(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	n := newChildNode(t, goodLeaf)
	cfg, err := os.ReadFile(n.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(n.config, append(cfg, "watch: true\n"...), 0o600))
	n.start(t)
	n.waitSocket(t)
	renewed := goodLeaf(n.ca)
	n.write(t, renewed)
	want := "\twatch\tclient\tok\tNULL\t"
	var out string
	testenv.Eventually(t, 15*time.Second, func() bool {
		out, err = mysqlSocket(mysqlBin, n.socket, "monitor", monitorPW, "--batch", "--skip-column-names", "-e", "SHOW SSL HISTORY")
		return err == nil && strings.Contains(out, want+"2\t")
	}, "no watch reload in SHOW SSL HISTORY:\n%s\n%s", out, n.log)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			assert.Equal(t, serialOf(renewed.Cert), strings.Split(l, "\t")[7])
		}
	}
}

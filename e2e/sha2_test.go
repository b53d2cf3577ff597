package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

// TestCachingSHA2PlainTCPMySQLCLI: the mysql CLI (libmariadb) logs a
// caching_sha2_password account in over plain TCP, retrieving the server's
// RSA public key, before and after the hash is cached; a wrong password is
// 1045. (It used to get 2012 from the server and report 2027.)
func TestCachingSHA2PlainTCPMySQLCLI(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, "  - name: sha2tcp\n    password: tcp-secret\n    plugin: caching_sha2_password\n")
	host, port := splitAddr(t, tn.Addr)
	cli := func(pw string) (string, error) {
		out, err := exec.Command(mysqlBin, "--protocol=TCP", "-h", host, "-P", port, "-u", "sha2tcp", "-p"+pw,
			"--skip-ssl", "--batch", "--skip-column-names", "-e", "SELECT USER(); SHOW STATUS LIKE 'Ssl_version'").CombinedOutput()
		return string(out), err
	}
	for i := 0; i < 2; i++ { // full authentication, then the fast path
		out, err := cli("tcp-secret")
		require.NoError(t, err, out)
		assert.Equal(t, "sha2tcp@127.0.0.1\nSsl_version\t\n", out, "plain TCP, no TLS")
	}
	out, err := cli("wrong")
	require.Error(t, err)
	assert.Contains(t, out, "ERROR 1045 (28000): Access denied for user 'sha2tcp'@'127.0.0.1'")
}

// TestCachingSHA2PlainTCPExchange drives the full authentication over plain
// TCP byte by byte: a scramble that misses the cache gets 0x01 0x04 for a
// known and for an unknown user alike; the key request (0x02) gets the PEM
// public key; a password sent in clear over plain TCP is 1045, as in MySQL.
func TestCachingSHA2PlainTCPExchange(t *testing.T) {
	tn := newTestNode(t, "  - name: sha2tcp\n    password: tcp-secret\n    plugin: caching_sha2_password\n")
	for _, user := range []string{"sha2tcp", sha2Decoy(t, tn)} {
		r := wiretest.Dial(t, tn.Addr)
		p, err := r.Login(user, bytes.Repeat([]byte{7}, 32), "caching_sha2_password")
		require.NoError(t, err)
		assert.Equal(t, []byte{0x01, 0x04}, p, "%s: full authentication requested", user)
		require.NoError(t, r.Send([]byte("tcp-secret\x00")))
		p, err = r.Read()
		require.NoError(t, err)
		assert.Equal(t, uint16(1045), wiretest.ErrNum(p), "%s: clear text over plain TCP", user)

		r = wiretest.Dial(t, tn.Addr)
		_, err = r.Login(user, bytes.Repeat([]byte{7}, 32), "caching_sha2_password")
		require.NoError(t, err)
		require.NoError(t, r.Send([]byte{0x02}))
		p, err = r.Read()
		require.NoError(t, err)
		require.NotEmpty(t, p)
		assert.Equal(t, byte(0x01), p[0])
		assert.True(t, bytes.HasPrefix(p[1:], []byte("-----BEGIN PUBLIC KEY-----\n")), "%q", p)
	}
}

// sha2Decoy is an unknown account name that looks like a caching_sha2
// account (unknown names look like one of the two password plugins, fixed
// per name: see TestHostileLoginLooksAlike).
func sha2Decoy(t *testing.T, tn *testNode) string {
	t.Helper()
	for i := 0; i < 64; i++ {
		name := fmt.Sprintf("ghost%d", i)
		r := wiretest.Dial(t, tn.Addr)
		p, err := r.Login(name, bytes.Repeat([]byte{7}, 32), "caching_sha2_password")
		r.C.Close()
		if err == nil && bytes.Equal(p, []byte{0x01, 0x04}) {
			return name
		}
	}
	t.Fatal("no unknown name looks like a caching_sha2 account")
	return ""
}

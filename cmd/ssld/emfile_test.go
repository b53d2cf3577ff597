package main

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileOutOfFileDescriptors: an `ssld serve` process limited to 64
// file descriptors (ulimit -n 64) gets 100 connections at once. accept(2)
// fails with EMFILE; ssld logs it, backs off and keeps the listener: once
// the clients leave, a real TLS login works, /healthz stays 200 and the
// accept errors are counted. Before, the accept loop returned for good and
// nothing was logged.
func TestHostileOutOfFileDescriptors(t *testing.T) {
	n := newDegradedNode(t, goodLeaf)
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0" "$@"`, ssldBinary(t),
		"serve", "--config", n.config, "--listen", n.addr, "--shutdown-grace", "100ms")
	cmd.Stdout, cmd.Stderr = n.log, n.log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	n.waitSocket(t)

	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", n.addr, 2*time.Second)
			if err != nil {
				return // the backlog may fill up: fine
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return strings.Contains(n.log.String(), "too many open files") }, 10*time.Second, 20*time.Millisecond,
		"EMFILE is logged:\n%s", n.log.String())
	for _, c := range conns {
		c.Close()
	}

	pool := x509.NewCertPool()
	pool.AddCert(n.ca.Cert)
	name := "emfile-" + strings.ReplaceAll(n.addr, ":", "-")
	require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost"}))
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.TLSConfig = "admin", adminPW, "tcp", n.addr, name
	cfg.Timeout = 2 * time.Second
	require.Eventually(t, func() bool {
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return false
		}
		db := sql.OpenDB(c)
		defer db.Close()
		return db.Ping() == nil
	}, 15*time.Second, 100*time.Millisecond, "a login works again after the flood:\n%s", n.log.String())

	code, body := httpGet(t, "http://"+n.metrics+"/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	_, metrics := httpGet(t, "http://"+n.metrics+"/metrics")
	assert.Regexp(t, `ssld_accept_errors_total\{listener="client"\} [1-9]`, metrics)
	assert.Contains(t, metrics, `ssld_listener_up{listener="client"} 1`)
	assert.Contains(t, n.log.String(), "accept failed; retrying")
}

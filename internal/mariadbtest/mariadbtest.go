// Package mariadbtest starts a throw-away MariaDB server on loopback: a fresh
// data folder from mariadb-install-db, mariadbd on a free 127.0.0.1 port with
// TLS from given files, and optionally one user with every privilege (SUPER
// and RELOAD included, so FLUSH SSL works).
//
// It serves tests that drive a real MariaDB (as a cluster member, as a
// comparison point) and the ssld-bench command, which measures MariaDB side
// by side with ssld. It therefore does not depend on "testing";
// testenv.MariaDB is the test-side wrapper.
//
// Debian's mariadb-server installs mariadbd in /usr/sbin, outside a normal
// user's PATH; Binaries looks there too.
package mariadbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssld/ssld/internal/freeport"
)

// Options describes the server to start. The zero value starts a server
// without TLS and with only the root user (unix_socket auth, no password).
type Options struct {
	// CertFile, KeyFile and CAFile become --ssl-cert, --ssl-key, --ssl-ca.
	// Leave all empty for a server without TLS.
	CertFile, KeyFile, CAFile string

	// User, when set, is created by an --init-file with Password and
	// GRANT ALL PRIVILEGES ON *.* (which includes SUPER and RELOAD).
	User, Password string
	// RequireSSL adds REQUIRE SSL to User; RequireX509 adds REQUIRE X509
	// instead (a client certificate that verifies against CAFile).
	RequireSSL, RequireX509 bool

	// MaxConnections is --max-connections; 0 keeps MariaDB's default (151).
	MaxConnections int

	// ExtraArgs are appended to mariadbd's command line.
	ExtraArgs []string

	// StartTimeout bounds install and start-up; 0 means 60 s.
	StartTimeout time.Duration
}

// Server is one running mariadbd. Stop it when done; Stop is idempotent and
// safe for concurrent use. Other methods only read fields set by Start.
type Server struct {
	// Addr is the TCP address, 127.0.0.1:port.
	Addr string
	// Dir holds the data folder, socket, init file and error log; Stop
	// removes it.
	Dir string
	// Socket is the Unix socket, where root logs in without a password
	// (unix_socket authentication as the process's user).
	Socket string

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// PID is the process id of mariadbd (for CPU and memory accounting).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// ErrorLog returns the server's error log, for failure messages.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return string(b)
}

// Stop kills mariadbd, waits for it to exit and removes Dir. A throw-away
// server needs no clean shutdown: its data is discarded.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		_ = os.RemoveAll(s.Dir)
	})
}

// Binaries returns the paths of mariadbd and mariadb-install-db, looking in
// PATH and then in /usr/sbin and /usr/bin (Debian's places).
func Binaries() (mariadbd, installDB string, err error) {
	find := func(name string) (string, error) {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s not found in PATH, /usr/sbin or /usr/bin (Debian: apt-get install mariadb-server)", name)
	}
	if mariadbd, err = find("mariadbd"); err != nil {
		return "", "", err
	}
	if installDB, err = find("mariadb-install-db"); err != nil {
		return "", "", err
	}
	return mariadbd, installDB, nil
}

// Start installs a data folder in a new temporary folder and starts mariadbd
// on a free loopback port. It returns once the server sends its protocol
// greeting on that port (by then the init file has run). On failure the
// error includes the server's error log and nothing is left running.
func Start(ctx context.Context, o Options) (*Server, error) {
	mariadbd, installDB, err := Binaries()
	if err != nil {
		return nil, err
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// A short folder name: the Unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "mdb")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	// Small InnoDB sizes: the server holds no data, and a smaller footprint
	// starts faster.
	small := []string{"--innodb-log-file-size=4M", "--innodb-buffer-pool-size=8M"}
	// mariadbd refuses to run as root unless told to; as another user
	// --user is ignored with a warning, so pass it only when needed.
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db"}, append(asRoot, small...)...)
	if out, err := exec.CommandContext(ctx, installDB, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}

	var initFile []string
	if o.User != "" {
		p := filepath.Join(dir, "init.sql")
		if err := os.WriteFile(p, []byte(initSQL(o)), 0o600); err != nil {
			return nil, err
		}
		initFile = []string{"--init-file=" + p}
	}
	socket := filepath.Join(dir, "m.sock")
	base := []string{"--no-defaults", "--datadir=" + data, "--bind-address=127.0.0.1", "--skip-networking=0",
		"--socket=" + socket, "--pid-file=" + filepath.Join(dir, "m.pid"),
		"--log-error=" + filepath.Join(dir, "error.log"),
		// A reverse DNS lookup per connection would measure the resolver,
		// not the server; production setups turn it off as well.
		"--skip-name-resolve", "--skip-log-bin", "--performance-schema=OFF"}
	base = append(base, asRoot...)
	base = append(base, small...)
	base = append(base, initFile...)
	if o.CertFile != "" || o.KeyFile != "" || o.CAFile != "" {
		base = append(base, "--ssl-cert="+o.CertFile, "--ssl-key="+o.KeyFile)
		if o.CAFile != "" {
			base = append(base, "--ssl-ca="+o.CAFile)
		}
	}
	if o.MaxConnections > 0 {
		base = append(base, "--max-connections="+strconv.Itoa(o.MaxConnections))
	}
	base = append(base, o.ExtraArgs...)

	// The free port is found by binding and closing, so another process
	// may take it before mariadbd binds; a few attempts make that harmless.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freeport.Port()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, Socket: socket, exited: make(chan struct{})}
		s.cmd = exec.Command(mariadbd, append(base, "--port="+strconv.Itoa(port))...)
		s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard // everything goes to error.log
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", mariadbd, err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		err = s.waitReady(ctx)
		if err == nil {
			ok = true
			return s, nil
		}
		_ = s.cmd.Process.Kill()
		<-s.exited
		lastErr = fmt.Errorf("%w\n%s", err, s.ErrorLog())
		if !strings.Contains(s.ErrorLog(), "in use") || ctx.Err() != nil {
			break
		}
		_ = os.Remove(filepath.Join(dir, "error.log"))
	}
	return nil, lastErr
}

// initSQL creates the user of o with every privilege.
func initSQL(o Options) string {
	q := func(s string) string { return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) }
	require := ""
	switch {
	case o.RequireX509:
		require = " REQUIRE X509"
	case o.RequireSSL:
		require = " REQUIRE SSL"
	}
	return fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'%s;\n"+
		"GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%';\n", q(o.User), q(o.Password), require, q(o.User))
}

// waitReady polls until the server sends its greeting (protocol version 10)
// on Addr, the process exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	for {
		if greeted(s.Addr) {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("mariadbd exited before accepting connections")
		case <-ctx.Done():
			return fmt.Errorf("mariadbd did not accept connections on %s: %w", s.Addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// greeted reports whether addr answers with a MySQL protocol greeting.
func greeted(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// 3-byte length, 1-byte sequence, then the payload's protocol version.
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return false
	}
	return hdr[4] == 10
}

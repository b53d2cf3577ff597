package cluster

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// sqlConn is one authenticated connection to a node, over TLS. Every call is
// bounded by the timeout it was opened with. Not safe for concurrent use.
type sqlConn struct {
	c       driver.Conn
	timeout time.Duration
	budget  *readBudget // what the node may still send for the current statement
	raw     *errBox     // the first socket error (the driver hides it)
}

// readLimit bounds what the runner reads from a node for one statement: a
// node that streams rows or sends huge ones is cut off at the limit
// instead of growing the runner. Bytes are counted on the socket (TLS
// records included). go-sql-driver allocates a packet's buffer from its
// header, so a single packet may still cost up to 16 MiB for as long as
// the read lasts (bounded by --timeout), never more.
type readLimit struct {
	rows  int
	bytes int64
}

var (
	// nodeStateLimit is for the statements that read one node's state
	// (@@version, a variable, CHECK TLS, SHOW SSL STATUS, the reload):
	// their answers are a few rows of at most a few KiB.
	nodeStateLimit = readLimit{rows: 64, bytes: 256 << 10}
	// discoveryLimit is for SHOW AGGREGATORS / SHOW LEAVES: a row per node
	// (~200 bytes in SingleStore's shape), 100,000 nodes at most.
	discoveryLimit = readLimit{rows: 100_000, bytes: 64 << 20}
	// loginBudget bounds the greeting, the TLS handshake (certificate
	// chain included) and the authentication exchange.
	loginBudget int64 = 1 << 20
)

// errReadLimit is the socket error once a node sent more than allowed.
var errReadLimit = errors.New("read limit reached")

// readBudget counts down the bytes a node may still send. Safe for
// concurrent use (the driver's watcher may close the socket meanwhile).
type readBudget struct {
	mu   sync.Mutex
	left int64
}

func (b *readBudget) reset(n int64) {
	b.mu.Lock()
	b.left = n
	b.mu.Unlock()
}

// take returns how much of want may be read now (0: the budget is spent).
func (b *readBudget) take(want int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(want) > b.left {
		want = int(b.left)
	}
	return want
}

func (b *readBudget) used(n int) {
	b.mu.Lock()
	b.left -= int64(n)
	b.mu.Unlock()
}

// connect dials addr with go-sql-driver/mysql (TLS verified by tv) and
// authenticates. The driver is used without database/sql so that a failed
// connect is not silently retried: retries are ours, with backoff.
func connect(ctx context.Context, addr, user, password string, timeout time.Duration, tv *tlsVerifier) (*sqlConn, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, password
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.TLS = tv.config(addr, nil)
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = timeout, timeout, timeout
	cfg.AllowNativePasswords = true
	lg := &lastLog{}
	cfg.Logger = lg // the driver would otherwise print socket errors to stderr
	rawErr := &errBox{}
	budget := &readBudget{}
	budget.reset(loginBudget)
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordingConn{Conn: c, box: rawErr, budget: budget}, nil
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := conn.Connect(ctx)
	if err != nil {
		// The driver reports socket failures as ErrInvalidConn; the socket's
		// own error says whether it was a timeout or a reset.
		if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
			if re := rawErr.get(); re != nil {
				err = re
			} else if msg := lg.last(); msg != "" {
				// A TLS alert (certificate refused, ...) happens inside the
				// driver's tls.Conn, which only logs it.
				err = fmt.Errorf("%w: %s", err, msg)
			}
		}
		return nil, &stepError{"connect", ctxErr(ctx, err)}
	}
	return &sqlConn{c: c, timeout: timeout, budget: budget, raw: rawErr}, nil
}

// socketErr replaces the driver's ErrInvalidConn by what happened on the
// socket when that was the read limit.
func (s *sqlConn) socketErr(q string, lim readLimit, err error) error {
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		if re := s.raw.get(); errors.Is(re, errReadLimit) {
			return &limitError{fmt.Sprintf("the node sent more than %d bytes for %s (the runner reads at most that much)", lim.bytes, q)}
		}
	}
	return err
}

// limitError is a node that sent more than a readLimit allows.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

func (s *sqlConn) Close() error { return s.c.Close() }

// exec runs a statement that returns no rows.
func (s *sqlConn) exec(ctx context.Context, q string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.budget.reset(nodeStateLimit.bytes)
	_, err := s.c.(driver.ExecerContext).ExecContext(ctx, q, nil)
	if err != nil {
		return ctxErr(ctx, s.socketErr(q, nodeStateLimit, err))
	}
	return nil
}

// query runs q and returns its rows as strings (NULL = ""), reading at
// most lim from the node: past it the connection is closed and the
// statement fails.
func (s *sqlConn) query(ctx context.Context, q string, lim readLimit) ([]string, [][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.budget.reset(lim.bytes)
	rows, err := s.c.(driver.QueryerContext).QueryContext(ctx, q, nil)
	if err != nil {
		return nil, nil, ctxErr(ctx, s.socketErr(q, lim, err))
	}
	defer rows.Close()
	cols := rows.Columns()
	if len(cols) > 64 {
		s.c.Close()
		return nil, nil, &limitError{fmt.Sprintf("the node sent %d columns for %s (the runner reads at most 64)", len(cols), q)}
	}
	var out [][]string
	vals := make([]driver.Value, len(cols))
	for {
		if err := rows.Next(vals); err != nil {
			if err == io.EOF {
				break
			}
			return nil, nil, ctxErr(ctx, s.socketErr(q, lim, err))
		}
		if len(out) == lim.rows {
			// Closing the socket, not draining: the node may never stop.
			s.c.Close()
			return nil, nil, &limitError{fmt.Sprintf("the node sent more than %d rows for %s (the runner reads at most that many)", lim.rows, q)}
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = valueString(v)
		}
		out = append(out, row)
	}
	return cols, out, nil
}

func valueString(v driver.Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// variables reads the global variables names (plain identifiers: they are
// not quoted) in one SHOW GLOBAL VARIABLES, by lower-case name; a variable
// the node does not have is absent.
func (s *sqlConn) variables(ctx context.Context, names ...string) (map[string]string, error) {
	_, rows, err := s.query(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('"+strings.Join(names, "', '")+"')", nodeStateLimit)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rows {
		if len(r) >= 2 {
			out[strings.ToLower(r[0])] = r[1]
		}
	}
	return out, nil
}

// recordingConn keeps the first socket error, which the driver hides
// behind ErrInvalidConn.
type recordingConn struct {
	net.Conn
	box    *errBox
	budget *readBudget
}

func (c *recordingConn) Read(p []byte) (int, error) {
	want := c.budget.take(len(p))
	if want == 0 && len(p) > 0 {
		c.box.set(errReadLimit)
		return 0, errReadLimit
	}
	n, err := c.Conn.Read(p[:want])
	c.budget.used(n)
	if err != nil {
		c.box.set(err)
	}
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.box.set(err)
	}
	return n, err
}

type errBox struct {
	mu  sync.Mutex
	err error
}

func (b *errBox) set(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *errBox) get() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// lastLog swallows the driver's log lines (they can name the address but
// never the password; still, the run's output is the report, not noise) and
// keeps the last one, which often holds the real cause of ErrInvalidConn.
type lastLog struct {
	mu  sync.Mutex
	msg string
}

func (l *lastLog) Print(v ...any) {
	l.mu.Lock()
	l.msg = strings.TrimSpace(fmt.Sprint(v...))
	l.mu.Unlock()
}

func (l *lastLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

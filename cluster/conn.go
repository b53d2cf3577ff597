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
	var rawErr errBox
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordingConn{Conn: c, box: &rawErr}, nil
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
	return &sqlConn{c: c, timeout: timeout}, nil
}

func (s *sqlConn) Close() error { return s.c.Close() }

// exec runs a statement that returns no rows.
func (s *sqlConn) exec(ctx context.Context, q string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.c.(driver.ExecerContext).ExecContext(ctx, q, nil)
	if err != nil {
		return ctxErr(ctx, err)
	}
	return nil
}

// query runs q and returns its rows as strings (NULL = "").
func (s *sqlConn) query(ctx context.Context, q string) ([]string, [][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.c.(driver.QueryerContext).QueryContext(ctx, q, nil)
	if err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	cols := rows.Columns()
	var out [][]string
	vals := make([]driver.Value, len(cols))
	for {
		if err := rows.Next(vals); err != nil {
			if err == io.EOF {
				break
			}
			return nil, nil, ctxErr(ctx, err)
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

// variable reads one global variable with SHOW GLOBAL VARIABLES, which every
// dialect answers; "" when it does not exist.
func (s *sqlConn) variable(ctx context.Context, name string) (string, error) {
	_, rows, err := s.query(ctx, "SHOW GLOBAL VARIABLES LIKE '"+name+"'")
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if len(r) >= 2 && strings.EqualFold(r[0], name) {
			return r[1], nil
		}
	}
	return "", nil
}

// recordingConn keeps the first socket error, which the driver hides
// behind ErrInvalidConn.
type recordingConn struct {
	net.Conn
	box *errBox
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
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

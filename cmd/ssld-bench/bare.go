package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/ssld/ssld/tlsctx"
)

// bareFlag, as the first argument, turns the bench binary into the bare
// TLS server: the limit that ssld is measured against. With --mysql it is
// the bare vitess server instead (see bareMySQL).
const bareFlag = "--bare-tls-server"

// bareServerMain serves TLS handshakes on a free loopback port with Go's
// default server settings and the given certificate, and nothing else: each
// connection is a handshake followed by a close. The private key signs
// through the given crypto backend, as ssld's does (tlsctx loads the pair
// and makes the signer; the TLS config is a plain static one). It prints
// "listening ADDR BACKEND" on stdout once ready and exits when stdin
// reaches EOF (the bench closed it or died).
func bareServerMain(args []string) int {
	fs := flag.NewFlagSet(bareFlag, flag.ContinueOnError)
	certFile := fs.String("cert", "", "certificate chain (PEM)")
	keyFile := fs.String("key", "", "private key (PEM)")
	backendName := fs.String("backend", "auto", "crypto backend: auto, openssl or go")
	mysqlProtocol := fs.Bool("mysql", false, "serve the MySQL protocol with vitess's own listener instead of bare TLS")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	backend, err := tlsctx.ParseCryptoBackend(*backendName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare TLS server:", err)
		return 2
	}
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{SSLCert: *certFile, SSLKey: *keyFile}),
		tlsctx.WithCryptoBackend(backend))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare TLS server:", err)
		return 1
	}
	snap := mgr.Current(tlsctx.ChannelClient)
	cert := *snap.Certificate
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare TLS server:", err)
		return 1
	}
	// Go's defaults, as a plain crypto/tls server has them (session
	// tickets on, TLS 1.2 and 1.3); only the certificate is set.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("listening %s %s\n", ln.Addr(), snap.KeyBackend)
	if *mysqlProtocol {
		fmt.Fprintln(os.Stderr, "bare vitess server:", bareMySQL(ln, cfg))
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bare TLS server:", err)
			return 1
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				fmt.Fprintln(os.Stderr, "bare TLS server: handshake:", err)
				return
			}
			_ = tc.Close() // close_notify, then the client sees EOF
		}()
	}
}

// bareMySQL serves the MySQL protocol on ln with dolthub/vitess's listener
// and nothing of ssld: vitess's defaults, its static auth server with the
// bench account (mysql_native_password), a static tls.Config, and a handler
// that refuses every statement (the load only logs in, pings and quits,
// which vitess answers itself). It is the floor for what the MySQL
// protocol's round trips cost over a bare TLS handshake: greeting, SSL
// request, login, OK, ping, OK, quit. It returns only when the listener
// stops.
func bareMySQL(ln net.Listener, cfg *tls.Config) error {
	accounts, err := json.Marshal(map[string][]map[string]string{benchUser: {{"Password": benchPassword}}})
	if err != nil {
		return err
	}
	auth := mysql.NewAuthServerStatic("", string(accounts), 0)
	// No read or write timeouts, as NewListener's callers get by default:
	// with them vitess wraps every connection in a deadline-per-call
	// wrapper (a mutex and a SetDeadline on every read and write), a cost
	// ssld does not pay (it sets the connect deadline once).
	l, err := mysql.NewListenerWithConfig(mysql.ListenerConfig{Listener: ln, AuthServer: auth, Handler: refuseAll{},
		ConnReadBufferSize: mysql.DefaultConnBufferSize})
	if err != nil {
		return err
	}
	l.TLSConfig = cfg
	l.RequireSecureTransport = true
	l.Accept()
	return errors.New("listener stopped")
}

// refuseAll is a vitess handler with no statements.
type refuseAll struct{}

var errNoStatements = errors.New("the bare vitess server runs no statements")

func (refuseAll) NewConnection(*mysql.Conn)                   {}
func (refuseAll) ConnectionClosed(*mysql.Conn)                {}
func (refuseAll) ConnectionAborted(*mysql.Conn, string) error { return nil }
func (refuseAll) ComInitDB(*mysql.Conn, string) error         { return errNoStatements }
func (refuseAll) WarningCount(*mysql.Conn) uint16             { return 0 }
func (refuseAll) ComResetConnection(*mysql.Conn) error        { return nil }
func (refuseAll) ParserOptionsForConnection(*mysql.Conn) (sqlparser.ParserOptions, error) {
	return sqlparser.ParserOptions{}, nil
}
func (refuseAll) ComQuery(context.Context, *mysql.Conn, string, mysql.ResultSpoolFn) error {
	return errNoStatements
}
func (refuseAll) ComMultiQuery(context.Context, *mysql.Conn, string, mysql.ResultSpoolFn) (string, error) {
	return "", errNoStatements
}
func (refuseAll) ComPrepare(context.Context, *mysql.Conn, string, *mysql.PrepareData) ([]*querypb.Field, error) {
	return nil, errNoStatements
}
func (refuseAll) ComStmtExecute(context.Context, *mysql.Conn, *mysql.PrepareData, func(*sqltypes.Result) error) error {
	return errNoStatements
}

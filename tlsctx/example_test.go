package tlsctx_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/tlsctx"
)

// Example embeds a Manager in a plain Go TLS server: the listener gets the
// Manager's static config once, and a reload (here called directly; in a
// real server from SIGHUP, a file watcher or an admin endpoint) changes the
// certificate that the next handshake gets.
func Example() {
	dir, _ := os.MkdirTemp("", "tlsctx-example")
	defer os.RemoveAll(dir)
	ca, _ := pki.NewCA("example CA")
	issue := func() {
		leaf, _ := ca.Issue(pki.DevServerOptions())
		_ = pki.WriteFile(filepath.Join(dir, "server.crt"), leaf.CertPEM, 0o644)
		_ = pki.WriteFile(filepath.Join(dir, "server.key"), leaf.KeyPEM, 0o600)
	}
	issue()

	m, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: filepath.Join(dir, "server.crt"),
		SSLKey:  filepath.Join(dir, "server.key"),
	}))
	if err != nil {
		log.Fatal(err) // a *tlsctx.ReloadError naming the setting, file and reason
	}

	// Set once, before Accept; never replaced.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerTLSConfig(tlsctx.ChannelClient))
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}(conn)
		}
	}()

	served := func() bool {
		roots := ca.Cert // trust the example CA
		cfg := &tls.Config{ServerName: "localhost", RootCAs: poolOf(roots)}
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		return tlsctx.FormatSerial(conn.ConnectionState().PeerCertificates[0].SerialNumber) == m.Current(tlsctx.ChannelClient).Serial()
	}
	fmt.Println("serving current certificate:", served())

	issue() // the operator (or certbot) replaces the files
	res, err := m.Reload(context.Background(), tlsctx.WithTrigger("api"))
	if err != nil {
		log.Fatal(err) // the previous certificate stays in use
	}
	fmt.Println("changed:", res.Changed, "generation:", res.Generation)
	fmt.Println("serving current certificate:", served())

	// Output:
	// serving current certificate: true
	// changed: true generation: 2
	// serving current certificate: true
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ssld/ssld/tlsctx"
)

// bareFlag, as the first argument, turns the bench binary into the bare
// TLS server: the limit that ssld is measured against.
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

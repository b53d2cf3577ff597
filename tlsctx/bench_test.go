package tlsctx

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/ssld/ssld/internal/testenv"
)

// BenchmarkHandshake compares a full TLS handshake over loopback TCP with a
// static *tls.Config ("static") against the Manager's config, whose
// GetConfigForClient loads the live snapshot ("dynamic"). The ratio is the
// cost of reloadability per handshake (dial and accept are in both).
func BenchmarkHandshake(b *testing.B) {
	c, m, static := staticAndDynamic(b)
	client := &tls.Config{RootCAs: c.pool(), ServerName: "localhost"} // no session cache: full handshakes
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{{"static", static}, {"dynamic", m.ServerTLSConfig(ChannelClient)}} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			errc := make(chan error, 1)
			go func() {
				for {
					raw, err := ln.Accept()
					if err != nil {
						return
					}
					srv := tls.Server(raw, bc.cfg)
					errc <- srv.Handshake()
					_ = raw.Close()
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				raw, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				cl := tls.Client(raw, client)
				if err := cl.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				_ = raw.Close()
			}
		})
	}
}

// BenchmarkHandshakeRatio interleaves static and dynamic handshakes in one
// loop, so both see the same machine load, and reports the dynamic path's
// throughput relative to the static one ("dynamic/static", 1.0 = equal;
// the target is >= 0.97). Run:
//
//	go test -run '^$' -bench HandshakeRatio -benchtime 2000x ./tlsctx/
func BenchmarkHandshakeRatio(b *testing.B) {
	c, m, static := staticAndDynamic(b)
	client := &tls.Config{RootCAs: c.pool(), ServerName: "localhost"}
	serve := func(cfg *tls.Config) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		testenv.Serve(b, ln, func(raw net.Conn) { _ = tls.Server(raw, cfg).Handshake() })
		return ln.Addr().String()
	}
	staticAddr := serve(static)
	dynAddr := serve(m.ServerTLSConfig(ChannelClient))
	handshake := func(addr string) time.Duration {
		start := time.Now()
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		if err := tls.Client(raw, client).Handshake(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var tStatic, tDynamic time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 { // alternate the order too
			tStatic += handshake(staticAddr)
			tDynamic += handshake(dynAddr)
		} else {
			tDynamic += handshake(dynAddr)
			tStatic += handshake(staticAddr)
		}
	}
	b.ReportMetric(float64(tStatic)/float64(tDynamic), "dynamic/static")
	b.ReportMetric(float64(tStatic.Microseconds())/float64(b.N), "static-µs/hs")
	b.ReportMetric(float64(tDynamic.Microseconds())/float64(b.N), "dynamic-µs/hs")
}

// staticAndDynamic makes a Manager over fresh certificates and the static
// *tls.Config that serves its current snapshot, the baseline of the
// handshake benchmarks.
func staticAndDynamic(b *testing.B) (*fixture, *Manager, *tls.Config) {
	c := newFixture(b)
	m, err := New(context.Background(), StaticSource(c.settings))
	if err != nil {
		b.Fatal(err)
	}
	snap := m.Current(ChannelClient)
	return c, m, &tls.Config{
		Certificates: []tls.Certificate{*snap.Certificate},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    snap.CAs,
	}
}

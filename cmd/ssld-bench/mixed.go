package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
)

// The mixed-client run (--mixed SHARE): a node serving an ECDSA and an RSA
// certificate (ssl_cert listing both, ECDSA first) under a load where SHARE
// of the clients can verify ECDSA and the rest offer RSA signatures only,
// beside the same run's RSA-only ssld, MariaDB serving the RSA certificate
// and the bare crypto/tls server with it. What it answers: how much CPU a
// fleet that keeps RSA for a few clients saves by serving ECDSA to the
// others, and whether the RSA-only clients pay anything for it.
//
// An RSA-only client is TLS 1.2 with ECDHE-RSA suites alone (crypto/tls has
// no client setting for TLS 1.3's signature algorithms): it stands for an
// old client that verifies RSA and nothing else. The ECDSA-capable clients
// are the run's ordinary ones.

// MixedResult is the mixed-client run: CPU per connection for each
// server and client population.
type MixedResult struct {
	ECDSAShare float64 `json:"ecdsa_capable_share"`
	Backend    string  `json:"crypto_backend"`
	// Mixed is the two-certificate node under the mixed clients.
	Mixed *LoadResult `json:"mixed_node_mixed_clients"`
	// MixedRSAOnly is the two-certificate node under RSA-only clients;
	// RSANodeRSAOnly the RSA-only node under the same clients.
	MixedRSAOnly   *LoadResult `json:"mixed_node_rsa_only_clients"`
	RSANodeRSAOnly *LoadResult `json:"rsa_node_rsa_only_clients"`
	// RSANode, MariaDB and BareTLS serve the RSA certificate to the
	// ordinary clients: the baselines.
	RSANode *LoadResult `json:"rsa_node"`
	MariaDB *LoadResult `json:"mariadb_rsa,omitempty"`
	BareTLS *LoadResult `json:"bare_tls_rsa"`
}

// rsaOnlyTLS is tc for a client that verifies only RSA signatures.
func rsaOnlyTLS(tc *tls.Config) *tls.Config {
	c := tc.Clone()
	c.MaxVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
	return c
}

// mixedConnect opens connections with ecdsa for share of them (in every
// 100 in a row, the first share×100) and with rsa for the rest.
func mixedConnect(ecdsa, rsa func(context.Context) error, share float64) func(context.Context) error {
	var n atomic.Int64
	cut := int64(share*100 + 0.5)
	return func(ctx context.Context) error {
		if (n.Add(1)-1)%100 < cut {
			return ecdsa(ctx)
		}
		return rsa(ctx)
	}
}

// mixedConfig is ssldConfig with ssl_cert and ssl_key listing the ECDSA
// pair, then the RSA pair.
func mixedConfig(base string, m *material, ec, rsa [2]string) string {
	return strings.Replace(base, "ssl_cert: "+m.certFile()+"\nssl_key: "+m.keyFile()+"\n",
		fmt.Sprintf("ssl_cert: [%s, %s]\nssl_key: [%s, %s]\n", ec[0], rsa[0], ec[1], rsa[1]), 1)
}

// runMixed measures the mixed-client run with the backend b (auto: what a
// default node does), the clients offering the primary key exchange.
// mdbAddr is "" without --mariadb.
func runMixed(ctx context.Context, o options, logw io.Writer, bin, dir string, m *material, b, mdbAddr string, mdbPID int) (*MixedResult, error) {
	res := &MixedResult{ECDSAShare: o.mixed}
	x := o.primaryKex() == kexX25519
	// The two pairs in files of their own; server.crt/.key hold RSA.
	files := map[string][2]string{}
	for _, k := range []string{keyECDSA, keyRSA} {
		l := m.leaves[k][0]
		f := [2]string{filepath.Join(m.dir, "mixed-"+k+".crt"), filepath.Join(m.dir, "mixed-"+k+".key")}
		if err := replaceFile(f[0], l.CertPEM, 0o644); err != nil {
			return nil, err
		}
		if err := replaceFile(f[1], l.KeyPEM, 0o600); err != nil {
			return nil, err
		}
		files[k] = f
	}
	if err := m.install(keyRSA, 0); err != nil {
		return nil, err
	}
	start := func(name string, cfg func(string) string) (*proc, *server, error) {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, nil, err
		}
		p, err := startSSLDConfig(ctx, bin, sub, o.ssldEnv, func(metricsAddr string) string {
			return cfg(ssldConfig(m, 2*o.loops+10, metricsAddr, b))
		})
		if err != nil {
			return nil, nil, err
		}
		s, err := newMySQLTarget(ctx, name, p.addr, p.pid(), m, "SSL_RELOAD", x)
		if err != nil {
			p.stop()
			return nil, nil, fmt.Errorf("%w\n%s", err, p.logTail())
		}
		return p, s, nil
	}
	mp, mixed, err := start("ssld-mixed", func(c string) string { return mixedConfig(c, m, files[keyECDSA], files[keyRSA]) })
	if err != nil {
		return nil, err
	}
	defer mp.stop()
	defer mixed.admin.Close()
	if err := mixed.admin.QueryRowContext(ctx, "SELECT @@ssl_crypto_backend").Scan(&res.Backend); err != nil {
		return nil, err
	}
	rp, rsaNode, err := start("ssld-rsa", func(c string) string { return c })
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	defer rsaNode.admin.Close()
	bp, err := startBare(ctx, dir, m, b, false)
	if err != nil {
		return nil, err
	}
	defer bp.stop()

	// The clients of each population, per server.
	ecdsaOn := func(addr string, seen *atomic.Pointer[handshakeInfo]) (func(context.Context) error, error) {
		c, err := mysqlConnector(addr, clientTLS(m.pool, x, seen))
		return mysqlConnect(c), err
	}
	rsaOn := func(addr string, seen *atomic.Pointer[handshakeInfo]) (func(context.Context) error, error) {
		c, err := mysqlConnector(addr, rsaOnlyTLS(clientTLS(m.pool, x, seen)))
		return mysqlConnect(c), err
	}
	var seenE, seenR, seenRR, seenN, seenB atomic.Pointer[handshakeInfo]
	mixE, err := ecdsaOn(mp.addr, &seenE)
	if err != nil {
		return nil, err
	}
	mixR, err := rsaOn(mp.addr, &seenR)
	if err != nil {
		return nil, err
	}
	rsaR, err := rsaOn(rp.addr, &seenRR)
	if err != nil {
		return nil, err
	}
	rsaN, err := ecdsaOn(rp.addr, &seenN)
	if err != nil {
		return nil, err
	}
	// Each client population gets the certificate it should.
	for _, c := range []struct {
		name    string
		connect func(context.Context) error
		seen    *atomic.Pointer[handshakeInfo]
		want    string
	}{{"two-certificate ssld, ECDSA-capable client", mixE, &seenE, "ECDSA"}, {"two-certificate ssld, RSA-only client", mixR, &seenR, "RSA"},
		{"RSA-only ssld, RSA-only client", rsaR, &seenRR, "RSA"}, {"RSA-only ssld, ordinary client", rsaN, &seenN, "RSA"}} {
		if err := c.connect(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if got := c.seen.Load(); got == nil || got.KeyAlg != c.want {
			return nil, fmt.Errorf("%s: served %v, want an %s certificate", c.name, got, c.want)
		}
	}
	pops := []turn{
		{"two-certificate ssld, mixed clients", mp.pid(), mixedConnect(mixE, mixR, o.mixed), &res.Mixed, nil},
		{"two-certificate ssld, RSA-only clients", mp.pid(), mixR, &res.MixedRSAOnly, nil},
		{"RSA-only ssld, RSA-only clients", rp.pid(), rsaR, &res.RSANodeRSAOnly, nil},
		{"RSA-only ssld, ordinary clients", rp.pid(), rsaN, &res.RSANode, nil},
		{"bare crypto/tls (RSA), ordinary clients", bp.pid(), tlsConnect(bp.addr, clientTLS(m.pool, x, &seenB)), &res.BareTLS, nil},
	}
	if mdbAddr != "" {
		mdb, err := newMySQLTarget(ctx, "mariadb", mdbAddr, mdbPID, m, "FLUSH SSL", x)
		if err != nil {
			return nil, err
		}
		defer mdb.admin.Close()
		if _, err := mdb.admin.ExecContext(ctx, "FLUSH SSL"); err != nil {
			return nil, fmt.Errorf("mariadb: FLUSH SSL to serve RSA: %w", err)
		}
		pops = append(pops, turn{"MariaDB (RSA), ordinary clients", mdbPID, mdb.connect, &res.MariaDB, nil})
	}
	err = interleave(ctx, o, pops, func(round int, p turn, r LoadResult) {
		progress(logw, "mixed (%.0f%% ECDSA-capable) round %d: %s: %.3f ms CPU per connection, %d failed", o.mixed*100, round+1, p.name, r.CPUPerConnMs, r.Failed)
	})
	return res, err
}

// evaluateMixed adds the mixed-client run's ratios and its two targets:
// with the share of ECDSA-capable clients, CPU per connection at most 0.55
// of MariaDB serving RSA; RSA-only clients at most 1.03 of what they cost
// on an RSA-only node.
func (r *Report) evaluateMixed() {
	x := r.Mixed
	if x == nil {
		return
	}
	config := fmt.Sprintf("%.0f%% ECDSA-capable, %s", x.ECDSAShare*100, x.Backend)
	add := func(name string, num, den *LoadResult, limit float64) {
		if num == nil || den == nil || den.CPUPerConnMs <= 0 {
			return
		}
		v := num.CPUPerConnMs / den.CPUPerConnMs
		r.Ratios = append(r.Ratios, Ratio{KeyType: "ecdsa+rsa", Config: config, Name: name, Value: v, Limit: limit})
		if limit > 0 {
			r.Targets = append(r.Targets, Target{Name: name, KeyType: "ecdsa+rsa", Config: config, Value: v, Limit: limit, Unit: "×", Met: v <= limit})
		}
	}
	add("two-certificate ssld, mixed clients / MariaDB serving RSA, CPU per connection", x.Mixed, x.MariaDB, 0.55)
	add("RSA-only clients: two-certificate ssld / RSA-only ssld, CPU per connection", x.MixedRSAOnly, x.RSANodeRSAOnly, 1.03)
	add("two-certificate ssld, mixed clients / RSA-only ssld, CPU per connection", x.Mixed, x.RSANode, 0)
	add("two-certificate ssld, mixed clients / bare crypto/tls serving RSA, CPU per connection", x.Mixed, x.BareTLS, 0)
	add("RSA-only ssld / MariaDB serving RSA, CPU per connection (same run)", x.RSANode, x.MariaDB, 0)
}

// printMixed writes the mixed-client run's figures, when there was one.
func (r *Report) printMixed(w io.Writer) {
	x := r.Mixed
	if x == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nmixed clients (%.0f%% ECDSA-capable, %s)\tserver CPU ms/conn\tconn/s\tfailed\n", x.ECDSAShare*100, x.Backend)
	for _, row := range []struct {
		name string
		l    *LoadResult
	}{
		{"two-certificate ssld, mixed clients", x.Mixed},
		{"two-certificate ssld, RSA-only clients", x.MixedRSAOnly},
		{"RSA-only ssld, RSA-only clients", x.RSANodeRSAOnly},
		{"RSA-only ssld, ordinary clients", x.RSANode},
		{"MariaDB serving RSA, ordinary clients", x.MariaDB},
		{"bare crypto/tls serving RSA, ordinary clients", x.BareTLS},
	} {
		if row.l == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.0f\t%d\n", row.name, row.l.CPUPerConnMs, row.l.ConnsPerSec, row.l.Failed)
	}
	tw.Flush()
}

package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/pki"
)

// The client-certificate run (--crl N) replaces the configurations of an
// ordinary run: ssld and MariaDB share one CA, the bench account needs a
// client certificate from it (require_x509 in ssld's users:, REQUIRE X509
// in MariaDB), and both apply the same CRL, N revoked serials signed by
// that CA (one PEM file: MariaDB's --ssl-crl takes PEM only). Every login
// presents a valid client certificate, so every handshake looks its chain
// up in the CRL and none is refused.
//
// Four processes take turns in each round: ssld with the CRL, ssld
// without it, and (with --mariadb) MariaDB with and without it. What it
// answers: ssld's CPU per client-certificate login against MariaDB's with
// the CRL, what the CRL adds to a handshake in ssld (with minus without),
// and what the reload that adds the CRL to a running ssld costs in time
// and resident memory. Before measuring, a certificate whose serial is in
// the CRL must be refused by the servers that apply it and let in by the
// others, and a login without a certificate refused by all.

// CRLResult is the client-certificate run.
type CRLResult struct {
	Revoked     int     `json:"revoked_serials"`
	CRLBytes    int64   `json:"crl_pem_bytes"`
	MakeSeconds float64 `json:"crl_generation_seconds"` // in the bench, context only
	KeyType     string  `json:"key_type"`
	Backend     string  `json:"crypto_backend"`
	KeyExchange string  `json:"key_exchange"`

	// The reload that adds the CRL to a running ssld (its config gains
	// ssl_crl, then SSL_RELOAD): the statement's latency and ssld's
	// resident size and Go heap in use before and after it.
	ReloadMs        float64 `json:"ssld_reload_adding_crl_ms"`
	ReloadCPUMs     float64 `json:"ssld_reload_adding_crl_cpu_ms"` // ssld's CPU time meanwhile (10 ms resolution)
	RSSBeforeKB     int64   `json:"ssld_rss_before_crl_kib"`
	RSSAfterKB      int64   `json:"ssld_rss_after_crl_kib"`
	ExtraRSSMiB     float64 `json:"ssld_extra_rss_mib"`
	HeapBeforeMiB   float64 `json:"ssld_go_heap_inuse_before_crl_mib"`
	HeapAfterMiB    float64 `json:"ssld_go_heap_inuse_after_crl_mib"`
	RSSAfterLoadKB  int64   `json:"ssld_rss_after_load_kib"`
	NoCRLRSSAfterKB int64   `json:"ssld_no_crl_rss_after_load_kib"`

	// CPU per client-certificate login (TLS handshake with the client
	// certificate, login, ping, close), summed over the rounds, and each
	// round's figure for the two ssld processes.
	SSLD           *LoadResult    `json:"ssld_crl"`
	SSLDNoCRL      *LoadResult    `json:"ssld_no_crl"`
	MariaDB        *LoadResult    `json:"mariadb_crl,omitempty"`
	MariaDBNoCRL   *LoadResult    `json:"mariadb_no_crl,omitempty"`
	SSLDRounds     []float64      `json:"ssld_crl_cpu_ms_per_round"`
	NoCRLRounds    []float64      `json:"ssld_no_crl_cpu_ms_per_round"`
	Handshake      *handshakeInfo `json:"handshake,omitempty"`
	MariaDBRSSKB   int64          `json:"mariadb_crl_rss_kib,omitempty"`    // fresh, context
	MariaDBNoKB    int64          `json:"mariadb_no_crl_rss_kib,omitempty"` // fresh, context
	MariaDBFlushMs float64        `json:"mariadb_flush_ssl_with_crl_ms,omitempty"`
}

// makeCRL returns a PEM CRL signed by ca revoking n serials: revoked and
// n−1 others, 127-bit numbers from a fixed seed (like the random serials
// of a real CA, and the same list in every run).
func makeCRL(ca *pki.CA, n int, revoked *big.Int) ([]byte, error) {
	if n < 1 {
		return nil, errors.New("--crl: the CRL needs at least one serial")
	}
	now := time.Now()
	r := mrand.New(mrand.NewPCG(1, 2))
	entries := make([]x509.RevocationListEntry, n)
	var b [16]byte
	for i := range entries {
		var s *big.Int
		if i == n/2 {
			s = revoked
		}
		for s == nil || s.Sign() == 0 {
			binary.BigEndian.PutUint64(b[:8], r.Uint64()&(1<<63-1))
			binary.BigEndian.PutUint64(b[8:], r.Uint64())
			s = new(big.Int).SetBytes(b[:])
		}
		entries[i] = x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Minute)}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour), RevokedCertificateEntries: entries}, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("--crl: signing the CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// crlConfig turns ssldConfig's account into a require_x509 one and, when
// crlFile is set, adds ssl_crl.
func crlConfig(base string, m *material, crlFile string) string {
	c := strings.Replace(base, "    require_ssl: true\n", "    require_x509: true\n", 1)
	if crlFile != "" {
		c = strings.Replace(c, "ssl_ca: "+m.caFile()+"\n", "ssl_ca: "+m.caFile()+"\nssl_crl: "+crlFile+"\n", 1)
	}
	return c
}

// withClientCert returns a copy of tc that presents cert (nil: none).
func withClientCert(tc *tls.Config, cert *pki.Leaf) (*tls.Config, error) {
	c := tc.Clone()
	if cert == nil {
		return c, nil
	}
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		return nil, err
	}
	c.Certificates = []tls.Certificate{pair}
	return c, nil
}

// crlTarget is one server of the client-certificate run.
type crlTarget struct {
	name    string
	pid     int
	addr    string
	applies bool // applies the CRL: the revoked certificate must be refused
	connect func(context.Context) error
	admin   *sql.DB
	seen    atomic.Pointer[handshakeInfo]
	out     **LoadResult
	rounds  *[]float64 // nil: per-round figures not kept
}

// runCRL measures the client-certificate run with the first key type,
// backend and the primary key exchange of o.
func runCRL(ctx context.Context, o options, logw io.Writer, bin, dir string, m *material) (*CRLResult, error) {
	k, backend := o.keyTypes[0], o.backends[0]
	x := o.primaryKex() == kexX25519
	res := &CRLResult{Revoked: o.crl, KeyType: k, KeyExchange: o.primaryKex()}
	ca := m.cas[k]
	kt, err := pkiKeyType(k)
	if err != nil {
		return nil, err
	}
	issue := func(serial *big.Int) (*pki.Leaf, error) {
		return ca.Issue(pki.LeafOptions{CN: benchUser, KeyType: kt, Serial: serial,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	}
	valid, err := issue(nil)
	if err != nil {
		return nil, err
	}
	revokedSerial := new(big.Int).Lsh(big.NewInt(0x5eed), 100)
	revoked, err := issue(revokedSerial)
	if err != nil {
		return nil, err
	}
	progress(logw, "making a CRL of %d revoked serials signed by the %s CA", o.crl, k)
	start := time.Now()
	crlPEM, err := makeCRL(ca, o.crl, revokedSerial)
	if err != nil {
		return nil, err
	}
	res.MakeSeconds, res.CRLBytes = time.Since(start).Seconds(), int64(len(crlPEM))
	crlFile := filepath.Join(m.dir, "revoked.crl.pem")
	if err := os.WriteFile(crlFile, crlPEM, 0o644); err != nil {
		return nil, err
	}
	crlPEM = nil
	progress(logw, "CRL: %.1f MB PEM in %.1f s", float64(res.CRLBytes)/1e6, res.MakeSeconds)
	if err := m.install(k, 0); err != nil {
		return nil, err
	}

	base := clientTLS(m.pool, x, new(atomic.Pointer[handshakeInfo]))
	connectors := func(t *crlTarget) (ok, bad, none func(context.Context) error, err error) {
		mk := func(tc *tls.Config) func(context.Context) error {
			c, cerr := mysqlConnector(t.addr, tc)
			if cerr != nil {
				err = cerr
			}
			return mysqlConnect(c)
		}
		tc, err := withClientCert(clientTLS(m.pool, x, &t.seen), valid)
		if err != nil {
			return nil, nil, nil, err
		}
		rc, err := withClientCert(base, revoked)
		if err != nil {
			return nil, nil, nil, err
		}
		ok, bad, none = mk(tc), mk(rc), mk(base)
		if err == nil {
			t.admin, err = adminDB(ctx, t.addr, tc)
		}
		return ok, bad, none, err
	}

	// ssld: one started without the CRL that a reload then gives it,
	// one that keeps running without it.
	startSSLD := func(name string) (*proc, func(crl string) string, error) {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, nil, err
		}
		var cfg func(string) string
		p, err := startSSLDConfig(ctx, bin, sub, o.ssldEnv, func(metricsAddr string) string {
			cfg = func(crl string) string { return crlConfig(ssldConfig(m, 2*o.loops+10, metricsAddr, backend), m, crl) }
			return cfg("")
		})
		return p, cfg, err
	}
	cp, crlCfg, err := startSSLD("ssld-crl")
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	np, _, err := startSSLD("ssld-no-crl")
	if err != nil {
		return nil, err
	}
	defer np.stop()
	withCRL := &crlTarget{name: "ssld with the CRL", pid: cp.pid(), addr: cp.addr, applies: true, out: &res.SSLD, rounds: &res.SSLDRounds}
	noCRL := &crlTarget{name: "ssld without a CRL", pid: np.pid(), addr: np.addr, out: &res.SSLDNoCRL, rounds: &res.NoCRLRounds}
	targets := []*crlTarget{withCRL, noCRL}
	checks := map[*crlTarget][3]func(context.Context) error{}
	for _, t := range targets {
		ok, bad, none, err := connectors(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", t.name, err, map[*crlTarget]*proc{withCRL: cp, noCRL: np}[t].logTail())
		}
		defer t.admin.Close()
		checks[t] = [3]func(context.Context) error{ok, bad, none}
		t.connect = ok
	}
	if err := withCRL.admin.QueryRowContext(ctx, "SELECT @@ssl_crypto_backend").Scan(&res.Backend); err != nil {
		return nil, fmt.Errorf("ssld: @@ssl_crypto_backend: %w", err)
	}

	// The reload that adds the CRL, measured while nothing else runs.
	time.Sleep(500 * time.Millisecond)
	if res.RSSBeforeKB, res.HeapBeforeMiB, err = ssldMemory(ctx, cp); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ssld-crl", "ssld.yaml"), []byte(crlCfg(crlFile)), 0o600); err != nil {
		return nil, err
	}
	cpu0, err := cpuTime(cp.pid())
	if err != nil {
		return nil, err
	}
	start = time.Now()
	if _, err := withCRL.admin.ExecContext(ctx, "SSL_RELOAD"); err != nil {
		return nil, fmt.Errorf("ssld: SSL_RELOAD adding ssl_crl: %w", err)
	}
	res.ReloadMs = float64(time.Since(start).Microseconds()) / 1000
	cpu1, err := cpuTime(cp.pid())
	if err != nil {
		return nil, err
	}
	res.ReloadCPUMs = float64((cpu1 - cpu0).Microseconds()) / 1000
	time.Sleep(time.Second) // the reload's garbage collected, as a running node would be
	if res.RSSAfterKB, res.HeapAfterMiB, err = ssldMemory(ctx, cp); err != nil {
		return nil, err
	}
	res.ExtraRSSMiB = float64(res.RSSAfterKB-res.RSSBeforeKB) / 1024
	progress(logw, "ssld: SSL_RELOAD adding the CRL took %.0f ms (%.0f ms CPU); RSS %d → %d KiB (+%.1f MiB), Go heap in use %.1f → %.1f MiB",
		res.ReloadMs, res.ReloadCPUMs, res.RSSBeforeKB, res.RSSAfterKB, res.ExtraRSSMiB, res.HeapBeforeMiB, res.HeapAfterMiB)

	if o.mariadb {
		for _, withList := range []bool{true, false} {
			mo := mariadbtest.Options{CertFile: m.certFile(), KeyFile: m.keyFile(), CAFile: m.caFile(),
				User: benchUser, Password: benchPassword, RequireX509: true, MaxConnections: 2*o.loops + 10,
				StartTimeout: 2 * time.Minute}
			name := "MariaDB without a CRL"
			if withList {
				mo.ExtraArgs, name = []string{"--ssl-crl=" + crlFile}, "MariaDB with the CRL"
			}
			progress(logw, "starting %s", name)
			mdb, err := mariadbtest.Start(ctx, mo)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			defer mdb.Stop()
			t := &crlTarget{name: name, pid: mdb.PID(), addr: mdb.Addr, applies: withList, out: &res.MariaDBNoCRL}
			if withList {
				t.out = &res.MariaDB
			}
			ok, bad, none, err := connectors(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", name, err, mdb.ErrorLog())
			}
			defer t.admin.Close()
			checks[t] = [3]func(context.Context) error{ok, bad, none}
			t.connect = ok
			targets = append(targets, t)
			time.Sleep(300 * time.Millisecond)
			rss, err := rssKB(t.pid)
			if err != nil {
				return nil, err
			}
			if withList {
				res.MariaDBRSSKB = rss
				start := time.Now()
				if _, err := t.admin.ExecContext(ctx, "FLUSH SSL"); err != nil {
					return nil, fmt.Errorf("%s: FLUSH SSL: %w", name, err)
				}
				res.MariaDBFlushMs = float64(time.Since(start).Microseconds()) / 1000
			} else {
				res.MariaDBNoKB = rss
			}
		}
	}

	// The CRL is applied where it should be and nowhere else, and the
	// account needs a certificate everywhere.
	for _, t := range targets {
		c := checks[t]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errOK, errBad, errNone := c[0](cctx), c[1](cctx), c[2](cctx)
		cancel()
		switch {
		case errOK != nil:
			return nil, fmt.Errorf("%s: login with a valid client certificate: %w", t.name, errOK)
		case t.applies && errBad == nil:
			return nil, fmt.Errorf("%s: a client certificate the CRL revokes logged in", t.name)
		case !t.applies && errBad != nil:
			return nil, fmt.Errorf("%s: login with a certificate only the CRL revokes: %w", t.name, errBad)
		case errNone == nil:
			return nil, fmt.Errorf("%s: the require_x509 account logged in without a client certificate", t.name)
		}
	}
	res.Handshake = withCRL.seen.Load()

	turns := make([]turn, len(targets))
	for i, t := range targets {
		turns[i] = turn{name: t.name, pid: t.pid, connect: t.connect, out: t.out, rounds: t.rounds}
	}
	if err := interleave(ctx, o, turns, func(round int, t turn, r LoadResult) {
		progress(logw, "client certificates, CRL of %d, round %d: %s: %.3f ms CPU per login, %.0f logins/s, %d failed",
			o.crl, round+1, t.name, r.CPUPerConnMs, r.ConnsPerSec, r.Failed)
	}); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)
	if res.RSSAfterLoadKB, err = rssKB(cp.pid()); err != nil {
		return nil, err
	}
	if res.NoCRLRSSAfterKB, err = rssKB(np.pid()); err != nil {
		return nil, err
	}
	return res, nil
}

// ssldMemory reads a running ssld's resident size (KiB) and its Go heap
// in use (MiB).
func ssldMemory(ctx context.Context, p *proc) (int64, float64, error) {
	rss, err := rssKB(p.pid())
	if err != nil {
		return 0, 0, err
	}
	g, err := scrapeGoMemory(ctx, p.metrics)
	return rss, g.heap / (1 << 20), err
}

// evaluateCRL adds the client-certificate run's ratios and its four
// targets: ssld with the CRL at most 0.7× MariaDB with it (CPU per login),
// at most 2 µs more per login than ssld without it, and the reload that
// adds it at most 2 s and 128 MiB more resident memory.
func (r *Report) evaluateCRL() {
	x := r.CRL
	if x == nil {
		return
	}
	config := fmt.Sprintf("client certificates, CRL of %d serials, %s %s %s", x.Revoked, x.KeyType, x.Backend, x.KeyExchange)
	target := func(name string, v, limit float64, unit string) {
		r.Targets = append(r.Targets, Target{Name: name, KeyType: x.KeyType, Config: config, Value: v, Limit: limit, Unit: unit, Met: v <= limit})
	}
	ratio := func(name string, num, den *LoadResult, limit float64) {
		if num == nil || den == nil || den.CPUPerConnMs <= 0 {
			return
		}
		v := num.CPUPerConnMs / den.CPUPerConnMs
		r.Ratios = append(r.Ratios, Ratio{KeyType: x.KeyType, Config: config, Name: name, Value: v, Limit: limit})
		if limit > 0 {
			target(name, v, limit, "×")
		}
	}
	ratio("ssld / MariaDB, both with the CRL, CPU per client-certificate login", x.SSLD, x.MariaDB, 0.7)
	ratio("ssld / MariaDB, neither with a CRL, CPU per client-certificate login", x.SSLDNoCRL, x.MariaDBNoCRL, 0)
	ratio("ssld with the CRL / without, CPU per client-certificate login", x.SSLD, x.SSLDNoCRL, 0)
	ratio("MariaDB with the CRL / without, CPU per client-certificate login", x.MariaDB, x.MariaDBNoCRL, 0)
	if x.SSLD != nil && x.SSLDNoCRL != nil {
		target("ssld with the CRL − without, CPU per client-certificate login", (x.SSLD.CPUPerConnMs-x.SSLDNoCRL.CPUPerConnMs)*1000, 2, "µs")
	}
	target("ssld SSL_RELOAD adding the CRL", x.ReloadMs/1000, 2, "s")
	target("ssld extra RSS after the reload adding the CRL", x.ExtraRSSMiB, 128, "MiB")
}

// printCRL writes the client-certificate run's figures, when there was one.
func (r *Report) printCRL(w io.Writer) {
	x := r.CRL
	if x == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nclient certificates, CRL of %d serials (%.2f MB PEM), %s %s %s\tserver CPU ms/login\tlogins/s\tlogins\tfailed\n",
		x.Revoked, float64(x.CRLBytes)/1e6, x.KeyType, x.Backend, x.KeyExchange)
	for _, row := range []struct {
		name string
		l    *LoadResult
	}{
		{"ssld with the CRL", x.SSLD},
		{"ssld without a CRL", x.SSLDNoCRL},
		{"MariaDB with the CRL", x.MariaDB},
		{"MariaDB without a CRL", x.MariaDBNoCRL},
	} {
		if row.l == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.0f\t%d\t%d\n", row.name, row.l.CPUPerConnMs, row.l.ConnsPerSec, row.l.Conns, row.l.Failed)
	}
	tw.Flush()
	fmt.Fprintf(w, "ssld per round, ms/login: with the CRL %s; without %s\n", msList(x.SSLDRounds), msList(x.NoCRLRounds))
	if len(x.SSLDRounds) == len(x.NoCRLRounds) {
		d := make([]string, len(x.SSLDRounds))
		for i := range d {
			d[i] = fmt.Sprintf("%+.1f", (x.SSLDRounds[i]-x.NoCRLRounds[i])*1000)
		}
		fmt.Fprintf(w, "ssld with the CRL − without, per round, µs/login: %s\n", strings.Join(d, ", "))
	}
	fmt.Fprintf(w, "ssld SSL_RELOAD adding the CRL: %.0f ms (%.0f ms CPU); RSS %d → %d KiB (+%.1f MiB), Go heap in use %.1f → %.1f MiB; RSS after the load %d KiB (without a CRL: %d KiB)\n",
		x.ReloadMs, x.ReloadCPUMs, x.RSSBeforeKB, x.RSSAfterKB, x.ExtraRSSMiB, x.HeapBeforeMiB, x.HeapAfterMiB, x.RSSAfterLoadKB, x.NoCRLRSSAfterKB)
	if x.MariaDB != nil {
		fmt.Fprintf(w, "MariaDB: RSS fresh %d KiB with the CRL, %d KiB without; FLUSH SSL with the CRL: %.0f ms\n",
			x.MariaDBRSSKB, x.MariaDBNoKB, x.MariaDBFlushMs)
	}
}

func msList(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf("%.3f", f)
	}
	return strings.Join(s, ", ")
}

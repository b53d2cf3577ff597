package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/tlsctx"
)

// server is one measured target as the load generator sees it.
type server struct {
	name      string // "ssld", "mariadb", "bare-tls", "bare-vitess"
	pid       int
	connect   func(context.Context) error
	connector driver.Connector // MySQL targets: for idle connections
	// connectResumed is connect with a client session cache; resumed
	// counts its connections that resumed a session.
	connectResumed func(context.Context) error
	resumed        atomic.Int64
	metricsURL     string  // ssld: its /metrics, for the Go runtime's memory figures
	admin          *sql.DB // MySQL targets: runs reloadStmt
	reloadStmt     string
	seen           atomic.Pointer[handshakeInfo]
}

// reloader installs the other leaf of key type k and times the reload
// statement alone (the file writes are not part of the latency).
func (s *server) reloader(m *material, k string) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		if err := m.install(k, m.cur^1); err != nil {
			return 0, err
		}
		start := time.Now()
		_, err := s.admin.ExecContext(ctx, s.reloadStmt)
		return time.Since(start), err
	}
}

func newMySQLTarget(ctx context.Context, name, addr string, pid int, m *material, stmt string, x25519 bool) (*server, error) {
	s := &server{name: name, pid: pid, reloadStmt: stmt}
	c, err := mysqlConnector(addr, clientTLS(m.pool, x25519, &s.seen))
	if err != nil {
		return nil, err
	}
	s.connector, s.connect = c, mysqlConnect(c)
	rc, err := mysqlConnector(addr, withResumption(clientTLS(m.pool, x25519, &s.seen), &s.resumed))
	if err != nil {
		return nil, err
	}
	s.connectResumed = mysqlConnect(rc)
	var dummy atomic.Pointer[handshakeInfo] // the admin connection's handshake is not a sample
	if s.admin, err = adminDB(ctx, addr, clientTLS(m.pool, x25519, &dummy)); err != nil {
		return nil, fmt.Errorf("%s: admin login: %w", name, err)
	}
	return s, nil
}

// Key exchanges the clients offer: Go's default preference list (which
// leads with the post-quantum X25519MLKEM768), or X25519 alone, which is
// what MariaDB with OpenSSL 3.0 negotiates (like for like).
const (
	kexDefault = "default"
	kexX25519  = "x25519"
)

// primaryKex is the key exchange whose configurations run every phase and
// carry the targets: X25519 (like for like) when the run has it.
func (o options) primaryKex() string {
	for _, k := range o.kexes {
		if k == kexX25519 {
			return k
		}
	}
	return o.kexes[0]
}

// run is the whole benchmark. Progress goes to logw, the table to out.
//
// For each crypto backend an ssld is started with that crypto_backend;
// for each key exchange its clients are made anew; for each key type the
// bare TLS server is started with the same backend. MariaDB (one process
// for the run) joins the configurations of the primary key exchange.
func run(ctx context.Context, o options, out, logw io.Writer) (*Report, error) {
	if o.loops < 1 || o.rounds < 1 || o.duration <= 0 || o.reloadInterval <= 0 || len(o.keyTypes) == 0 ||
		len(o.backends) == 0 || len(o.kexes) == 0 {
		return nil, errors.New("--loops, --rounds, --duration, --reload-interval, --keys, --backends and --kex must be positive")
	}
	if o.mixed < 0 || o.mixed >= 1 {
		return nil, errors.New("--mixed is the share of ECDSA-capable clients: more than 0 and less than 1")
	}
	if o.mixed > 0 && (!slices.Contains(o.keyTypes, keyECDSA) || !slices.Contains(o.keyTypes, keyRSA)) {
		return nil, fmt.Errorf("--mixed needs both key types (--keys %s,%s)", keyECDSA, keyRSA)
	}
	if o.crl < 0 || (o.crl > 0 && o.mixed > 0) {
		return nil, errors.New("--crl is the number of revoked serials of the client-certificate run, which runs alone (not with --mixed)")
	}
	for _, k := range o.keyTypes {
		if _, err := pkiKeyType(k); err != nil {
			return nil, err
		}
	}
	for _, b := range o.backends {
		if _, err := tlsctx.ParseCryptoBackend(b); err != nil {
			return nil, fmt.Errorf("--backends: %w", err)
		}
	}
	for _, k := range o.kexes {
		if k != kexDefault && k != kexX25519 {
			return nil, fmt.Errorf("--kex: unknown key exchange %q (want %s or %s)", k, kexDefault, kexX25519)
		}
	}
	rep := &Report{Command: commandLine(), Machine: machine(), Settings: settingsOf(o)}
	dir, err := os.MkdirTemp("", "ssld-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	m, err := newMaterial(filepath.Join(dir, "certs"), o.keyTypes)
	if err != nil {
		return nil, err
	}

	bin := o.ssldBin
	if bin == "" {
		progress(logw, "building ./cmd/ssld")
		if bin, err = buildSSLD(ctx, dir); err != nil {
			return nil, err
		}
	}

	if o.crl > 0 {
		progress(logw, "client certificates, CRL of %d revoked serials", o.crl)
		if rep.CRL, err = runCRL(ctx, o, logw, bin, dir, m); err != nil {
			return nil, fmt.Errorf("client certificates with a CRL: %w", err)
		}
		rep.evaluate()
		rep.print(out)
		return rep, nil
	}

	var mdbPID int
	var mdbAddr string
	if o.mariadb {
		progress(logw, "starting MariaDB")
		mdb, err := mariadbtest.Start(ctx, mariadbtest.Options{CertFile: m.certFile(), KeyFile: m.keyFile(),
			CAFile: m.caFile(), User: benchUser, Password: benchPassword, RequireSSL: true,
			MaxConnections: 2*o.idleConns + 100})
		if err != nil {
			return nil, err
		}
		defer mdb.Stop()
		mdbPID, mdbAddr = mdb.PID(), mdb.Addr
		progress(logw, "MariaDB pid %d on %s", mdbPID, mdbAddr)
	}
	mariadbMemory := -1 // index in rep.Memory once measured
	primary := o.primaryKex()

	for _, b := range o.backends {
		sp, err := startSSLD(ctx, bin, dir, m, 2*o.idleConns+100, o.ssldEnv, b)
		if err != nil {
			return nil, err
		}
		ssldMemory := -1
		for _, kex := range o.kexes {
			x := kex == kexX25519
			ssld, err := newMySQLTarget(ctx, "ssld", sp.addr, sp.pid(), m, "SSL_RELOAD", x)
			if err != nil {
				sp.stop()
				return nil, fmt.Errorf("%w\n%s", err, sp.logTail())
			}
			ssld.metricsURL = sp.metrics
			var used string
			if err := ssld.admin.QueryRowContext(ctx, "SELECT @@ssl_crypto_backend").Scan(&used); err != nil {
				sp.stop()
				return nil, fmt.Errorf("ssld: @@ssl_crypto_backend: %w", err)
			}
			if b != string(tlsctx.BackendAuto) && used != b {
				sp.stop()
				return nil, fmt.Errorf("ssld with crypto_backend %s signs with %s", b, used)
			}
			progress(logw, "ssld pid %d on %s, crypto_backend %s (%s), key exchange %s", sp.pid(), sp.addr, b, used, kex)
			targets := []*server{ssld}
			if o.mariadb && kex == primary {
				t, err := newMySQLTarget(ctx, "mariadb", mdbAddr, mdbPID, m, "FLUSH SSL", x)
				if err != nil {
					sp.stop()
					return nil, err
				}
				if rep.Machine.MariaDB == "" {
					_ = t.admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&rep.Machine.MariaDB)
				}
				targets = append(targets, t)
			}
			// Memory first, while the servers are fresh and idle.
			if ssldMemory < 0 {
				mr, err := measureMemory(ctx, ssld, o.idleConns)
				if err != nil {
					sp.stop()
					return nil, err
				}
				mr.Backend = used
				ssldMemory = len(rep.Memory)
				rep.Memory = append(rep.Memory, mr)
				progress(logw, "ssld (%s): idle RSS %d KiB, %.1f KiB per idle TLS connection (first %d), %.1f KiB (next %d)",
					used, mr.IdleRSSKB, mr.PerConnKB, o.idleConns, mr.MarginalPerConnKB, o.idleConns)
			}
			if len(targets) > 1 && mariadbMemory < 0 {
				mr, err := measureMemory(ctx, targets[1], o.idleConns)
				if err != nil {
					sp.stop()
					return nil, err
				}
				mariadbMemory = len(rep.Memory)
				rep.Memory = append(rep.Memory, mr)
				progress(logw, "mariadb: idle RSS %d KiB, %.1f KiB per idle TLS connection (first %d), %.1f KiB (next %d)",
					mr.IdleRSSKB, mr.PerConnKB, o.idleConns, mr.MarginalPerConnKB, o.idleConns)
			}
			for _, k := range o.keyTypes {
				cfg := config{backend: b, used: used, kex: kex, full: kex == primary}
				kr, err := runKeyType(ctx, o, logw, dir, m, k, cfg, targets)
				if err != nil {
					sp.stop()
					return nil, err
				}
				rep.KeyTypes = append(rep.KeyTypes, kr)
			}
			for _, t := range targets {
				t.admin.Close()
			}
		}
		// The same ssld, idle again after every phase.
		time.Sleep(500 * time.Millisecond)
		rss, err := rssKB(sp.pid())
		sp.stop()
		if err != nil {
			return nil, err
		}
		rep.Memory[ssldMemory].IdleAfterLoadRSSKB = rss
	}
	if mariadbMemory >= 0 {
		if rep.Memory[mariadbMemory].IdleAfterLoadRSSKB, err = rssKB(mdbPID); err != nil {
			return nil, err
		}
	}
	if o.mixed > 0 {
		progress(logw, "mixed clients: %.0f%% ECDSA-capable, the rest RSA-only", o.mixed*100)
		if rep.Mixed, err = runMixed(ctx, o, logw, bin, dir, m, "auto", mdbAddr, mdbPID); err != nil {
			return nil, fmt.Errorf("mixed clients: %w", err)
		}
	}

	rep.evaluate()
	rep.print(out)
	return rep, nil
}

// config is one measured configuration: ssld's crypto backend (as asked
// and as used) and the key exchange the clients offer. Only full
// configurations run the reload and session-cache phases.
type config struct {
	backend, used, kex string
	full               bool
}

// runKeyType installs the key type's certificate everywhere and runs every
// phase for it. Servers take turns within each round, so a slow drift of
// the machine affects all of them alike.
func runKeyType(ctx context.Context, o options, logw io.Writer, dir string, m *material, k string, cfg config,
	mysqlTargets []*server) (KeyResult, error) {
	kr := KeyResult{KeyType: k, Backend: cfg.used, KeyExchange: cfg.kex}
	if err := m.install(k, 0); err != nil {
		return kr, err
	}
	for _, s := range mysqlTargets {
		if _, err := s.admin.ExecContext(ctx, s.reloadStmt); err != nil {
			return kr, fmt.Errorf("%s: %s to switch to %s: %w", s.name, s.reloadStmt, k, err)
		}
	}
	// What signs this key type in ssld: under crypto_backend auto the
	// backend is chosen per kind of key by measuring, so it is read again
	// after the switch, and the bare servers are started with it: every
	// server of a comparison signs the same way.
	bareBackend := cfg.backend
	if cfg.backend == string(tlsctx.BackendAuto) && len(mysqlTargets) > 0 {
		if err := mysqlTargets[0].admin.QueryRowContext(ctx, "SELECT @@ssl_crypto_backend").Scan(&cfg.used); err != nil {
			return kr, fmt.Errorf("%s: @@ssl_crypto_backend: %w", mysqlTargets[0].name, err)
		}
		kr.Backend, bareBackend = cfg.used, cfg.used
	}
	x := cfg.kex == kexX25519
	var bares []*server
	for _, mysql := range []bool{false, true} {
		bp, err := startBare(ctx, dir, m, bareBackend, mysql)
		if err != nil {
			return kr, err
		}
		defer bp.stop()
		if bp.backend != cfg.used {
			return kr, fmt.Errorf("%s with crypto backend %s signs with %s, ssld with %s", bp.name, cfg.backend, bp.backend, cfg.used)
		}
		s := &server{name: bp.name, pid: bp.pid()}
		if mysql {
			c, err := mysqlConnector(bp.addr, clientTLS(m.pool, x, &s.seen))
			if err != nil {
				return kr, err
			}
			rc, err := mysqlConnector(bp.addr, withResumption(clientTLS(m.pool, x, &s.seen), &s.resumed))
			if err != nil {
				return kr, err
			}
			s.connector, s.connect, s.connectResumed = c, mysqlConnect(c), mysqlConnect(rc)
		} else {
			s.connect = tlsConnect(bp.addr, clientTLS(m.pool, x, &s.seen))
			s.connectResumed = tlsConnect(bp.addr, withResumption(clientTLS(m.pool, x, &s.seen), &s.resumed))
		}
		bares = append(bares, s)
	}
	all := append(append([]*server(nil), mysqlTargets...), bares...)
	name := fmt.Sprintf("%s %s %s", k, cfg.used, cfg.kex)

	// One connection to each: the certificate of k must be served.
	want := map[string]string{keyECDSA: "ECDSA", keyRSA: "RSA"}[k]
	for _, s := range all {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.connect(cctx)
		cancel()
		if err != nil {
			return kr, fmt.Errorf("%s: first %s connection: %w", s.name, name, err)
		}
		if got := s.seen.Load(); got == nil || got.KeyAlg != want {
			return kr, fmt.Errorf("%s: serves a %v key after switching to %s", s.name, got, k)
		}
	}

	res := map[*server]*ServerResult{}
	for _, s := range all {
		res[s] = &ServerResult{Server: s.name}
		progress(logw, "%s %s: warm-up %s", name, s.name, o.warmup)
		if _, _, err := (load{pid: s.pid, loops: o.loops, duration: o.warmup, connect: s.connect}).run(ctx); err != nil {
			return kr, err
		}
	}
	if cfg.full {
		for _, s := range mysqlTargets {
			lat, failed := reloadEvery(ctx, s.reloader(m, k), o.reloadInterval,
				time.Now().Add(time.Duration(o.idleReloads)*o.reloadInterval))
			l := latency(lat, failed)
			res[s].ReloadIdle = &l
			progress(logw, "%s %s: idle %s p50 %.2f ms p99 %.2f ms", name, s.name, s.reloadStmt, l.P50Ms, l.P99Ms)
		}
	}
	loaded := map[*server][]time.Duration{}
	loadedFailed := map[*server]int{}
	phase := o.duration / time.Duration(o.rounds)
	// The phases of a round, in order. Each runs on every server, or on
	// the MySQL targets only when it reloads; the last two use clients
	// that keep a session cache. A configuration that is not full runs
	// the first only: new connections, no reload.
	phases := []struct {
		label          string
		reload, cached bool
		result         func(*ServerResult) **LoadResult
	}{
		{"", false, false, func(sr *ServerResult) **LoadResult { return &sr.Without }},
		{" with reload", true, false, func(sr *ServerResult) **LoadResult { return &sr.WithReload }},
		{", session cache", false, true, func(sr *ServerResult) **LoadResult { return &sr.Resumption }},
		{", session cache, with reload", true, true, func(sr *ServerResult) **LoadResult { return &sr.ResumptionReloading }},
	}
	if !cfg.full {
		phases = phases[:1]
	}
	for r := 0; r < o.rounds; r++ {
		for _, ph := range phases {
			for _, s := range all {
				if ph.reload && s.admin == nil {
					continue
				}
				l := load{pid: s.pid, loops: o.loops, duration: phase, connect: s.connect}
				if ph.cached {
					l.connect, l.resumed = s.connectResumed, &s.resumed
				}
				if ph.reload {
					l.reload, l.interval = s.reloader(m, k), o.reloadInterval
				}
				lr, lat, err := l.run(ctx)
				if err != nil {
					return kr, err
				}
				dst := ph.result(res[s])
				if *dst == nil {
					*dst = &LoadResult{}
				}
				(*dst).add(lr)
				line := fmt.Sprintf("%s %s round %d%s: %.3f ms CPU/conn, %.0f conn/s, %d failed", name, s.name, r+1,
					ph.label, lr.CPUPerConnMs, lr.ConnsPerSec, lr.Failed)
				if ph.cached {
					line += fmt.Sprintf(", %.0f%% resumed", 100*lr.ResumedShare)
				}
				if ph.reload {
					line += fmt.Sprintf(", %d reloads", lr.Reloads)
					if !ph.cached { // the reload latency under load comes from full handshakes
						loaded[s] = append(loaded[s], lat...)
						loadedFailed[s] += lr.ReloadFailed
					}
				}
				progress(logw, "%s", line)
			}
		}
	}
	for _, s := range all {
		sr := res[s]
		sr.Handshake = s.seen.Load()
		if s.admin != nil && cfg.full {
			l := latency(loaded[s], loadedFailed[s])
			sr.ReloadLoaded = &l
		}
		kr.Servers = append(kr.Servers, *sr)
	}
	return kr, nil
}

// MemoryResult is the resident size of a server idle, with n idle TLS
// connections open (logged in, then left alone), and with n more.
//
// The first figure, (with n − idle) / n, also carries what does not grow
// with connections: the heap the Go collector lets grow before its first
// cycle (4 MiB × GOGC/100 at the least) and the runtime's own first-use
// costs. The second, (with 2n − with n) / n, is what one more idle
// connection costs once the server is in use: its marginal cost.
type MemoryResult struct {
	Server         string  `json:"server"`
	Backend        string  `json:"crypto_backend,omitempty"` // ssld: what signed`
	IdleRSSKB      int64   `json:"idle_rss_kib"`
	IdleConns      int     `json:"idle_conns"`
	WithConnsRSSKB int64   `json:"rss_with_idle_conns_kib"`
	PerConnKB      float64 `json:"kib_per_idle_conn"`
	// With twice IdleConns open, and the difference per connection.
	WithTwiceRSSKB    int64   `json:"rss_with_twice_idle_conns_kib"`
	MarginalPerConnKB float64 `json:"kib_per_additional_idle_conn"`
	// From the Go runtime (ssld only): how the per-connection figures
	// split into goroutine stacks and heap spans in use. The heap part
	// includes handshake garbage not yet collected, which depends on GOGC.
	StackPerConnKB         float64 `json:"go_stack_kib_per_idle_conn,omitempty"`
	HeapPerConnKB          float64 `json:"go_heap_inuse_kib_per_idle_conn,omitempty"`
	MarginalStackPerConnKB float64 `json:"go_stack_kib_per_additional_idle_conn,omitempty"`
	MarginalHeapPerConnKB  float64 `json:"go_heap_inuse_kib_per_additional_idle_conn,omitempty"`
	IdleAfterLoadRSSKB     int64   `json:"idle_rss_after_load_kib"`
}

// measureMemory reads the server's resident size idle, then opens n idle
// connections and reads it again, then n more. The server must accept 2n
// connections.
func measureMemory(ctx context.Context, s *server, n int) (MemoryResult, error) {
	mr := MemoryResult{Server: s.name, IdleConns: n}
	time.Sleep(300 * time.Millisecond) // let start-up garbage settle
	rss := []int64{0, 0, 0}
	var rt [3]goMemory
	read := func(i int) error {
		var err error
		if rss[i], err = rssKB(s.pid); err != nil {
			return err
		}
		if s.metricsURL != "" {
			rt[i], err = scrapeGoMemory(ctx, s.metricsURL)
		}
		return err
	}
	if err := read(0); err != nil {
		return mr, err
	}
	for batch := 1; batch <= 2; batch++ {
		conns, err := openIdle(ctx, s, n)
		defer closeAll(conns)
		if err != nil {
			return mr, err
		}
		time.Sleep(300 * time.Millisecond)
		if err := read(batch); err != nil {
			return mr, err
		}
	}
	mr.IdleRSSKB, mr.WithConnsRSSKB, mr.WithTwiceRSSKB = rss[0], rss[1], rss[2]
	per := func(a, b float64) float64 { return (b - a) / float64(n) }
	mr.PerConnKB = per(float64(rss[0]), float64(rss[1]))
	mr.MarginalPerConnKB = per(float64(rss[1]), float64(rss[2]))
	if s.metricsURL != "" {
		mr.StackPerConnKB, mr.HeapPerConnKB = per(rt[0].stack, rt[1].stack)/1024, per(rt[0].heap, rt[1].heap)/1024
		mr.MarginalStackPerConnKB, mr.MarginalHeapPerConnKB = per(rt[1].stack, rt[2].stack)/1024, per(rt[1].heap, rt[2].heap)/1024
	}
	return mr, nil
}

// openIdle logs n connections in to s, 8 at a time, and leaves them open.
// The caller closes them, also on error.
func openIdle(ctx context.Context, s *server, n int) ([]driver.Conn, error) {
	conns := make([]driver.Conn, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				conns[i], errs[i] = s.connector.Connect(cctx)
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return conns, fmt.Errorf("%s: opening %d idle connections: %w", s.name, n, err)
	}
	return conns, nil
}

func closeAll(conns []driver.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

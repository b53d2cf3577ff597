package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssld/ssld/internal/testenv"
)

// TestMain lets the test binary play the bare TLS server, as the bench
// binary does: the bench re-executes os.Executable(), which here is the
// test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bareFlag {
		os.Exit(bareServerMain(os.Args[2:]))
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir) // the ssld built for the tests
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	ssldBin   string
	buildErr  error
)

// builtSSLD builds ./cmd/ssld once for every test in the package.
func builtSSLD(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ssld-bench-test")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		ssldBin, buildErr = buildSSLD(ctx, dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return ssldBin
}

// runBench runs the bench with options o and the ssld built for the tests,
// within 2 minutes, logs the printed tables and returns the report and the
// tables. needsOpenSSL: a machine without libcrypto.so.3 skips (fails under
// CI=true) instead of failing.
func runBench(t *testing.T, o options, needsOpenSSL bool) (*Report, string) {
	t.Helper()
	o.ssldBin = builtSSLD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	rep, err := run(ctx, o, &out, &log)
	if err != nil {
		if needsOpenSSL && !testenv.CI() && strings.Contains(err.Error(), "libcrypto.so.3 cannot be loaded") {
			t.Skipf("no libcrypto: %v", err)
		}
		t.Fatalf("run: %v\nprogress:\n%s", err, log.String())
	}
	t.Logf("\n%s", out.String())
	return rep, out.String()
}

// quickRun runs the bench in quick mode end to end and checks that every
// figure is there and no connection or reload failed. It asserts no
// timing: CI machines vary too much for that.
func quickRun(t *testing.T, mariadb bool) *Report {
	o := defaultOptions()
	o.quick, o.mariadb = true, mariadb
	o.applyQuick()
	o.idleConns = 50 // enough to exercise the measurement, and quick under -race
	rep, out := runBench(t, o, false)

	servers := []string{"ssld", "bare-tls", "bare-vitess"}
	if mariadb {
		servers = []string{"ssld", "mariadb", "bare-tls", "bare-vitess"}
	}
	if len(rep.KeyTypes) != 1 || rep.KeyTypes[0].KeyType != keyECDSA {
		t.Fatalf("key types: got %+v, want only %s", rep.KeyTypes, keyECDSA)
	}
	k := rep.KeyTypes[0]
	for _, name := range servers {
		s := k.server(name)
		if s == nil {
			t.Errorf("no figures for %s", name)
			continue
		}
		checkLoad(t, name+" without reload", s.Without)
		if s.Handshake == nil || s.Handshake.KeyAlg != "ECDSA" || !strings.HasPrefix(s.Handshake.Version, "TLS") {
			t.Errorf("%s: handshake %+v, want TLS with an ECDSA key", name, s.Handshake)
		}
		checkLoad(t, name+" with a session cache", s.Resumption)
		if strings.HasPrefix(name, "bare-") {
			continue
		}
		rr := s.ResumptionReloading
		checkLoad(t, name+" with a session cache, with reload", rr)
		if name == "ssld" && s.Resumption != nil && rr != nil {
			// ssld issues tickets, and every reload that swaps the
			// certificate invalidates them: some connections must resume
			// and, while reloading, some must not.
			if s.Resumption.Resumed == 0 {
				t.Errorf("ssld: no connection resumed a session: %+v", s.Resumption)
			}
			if rr.Reloads == 0 || rr.ReloadFailed > 0 || rr.Resumed >= rr.Conns {
				t.Errorf("ssld: %d reloads (%d failed) and still %d of %d connections resumed",
					rr.Reloads, rr.ReloadFailed, rr.Resumed, rr.Conns)
			}
		}
		if s.WithReload == nil || s.ReloadIdle == nil || s.ReloadLoaded == nil {
			t.Errorf("%s: reload figures missing: %+v", name, s)
			continue
		}
		checkLoad(t, name+" with reload", s.WithReload)
		if s.WithReload.Reloads == 0 || s.WithReload.ReloadFailed > 0 {
			t.Errorf("%s: %d reloads under load, %d failed", name, s.WithReload.Reloads, s.WithReload.ReloadFailed)
		}
		for what, l := range map[string]*Latency{"idle": s.ReloadIdle, "loaded": s.ReloadLoaded} {
			if l.N == 0 || l.Failed > 0 || l.P50Ms <= 0 || l.P99Ms < l.P50Ms || l.MaxMs < l.P99Ms {
				t.Errorf("%s: reload latency %s: %+v", name, what, l)
			}
		}
	}
	wantMemory := 1 // ssld; MariaDB too, the bare servers not
	if mariadb {
		wantMemory = 2
	}
	if len(rep.Memory) != wantMemory {
		t.Errorf("memory figures for %d servers, want %d", len(rep.Memory), wantMemory)
	}
	for _, m := range rep.Memory {
		if m.IdleRSSKB <= 0 || m.WithConnsRSSKB <= 0 || m.WithTwiceRSSKB <= 0 || m.IdleAfterLoadRSSKB <= 0 || m.IdleConns != 50 {
			t.Errorf("memory of %s: %+v", m.Server, m)
		}
		// Every idle connection holds a goroutine, so ssld's stacks grow,
		// in the first batch and in the second.
		if m.Server == "ssld" && (m.StackPerConnKB <= 0 || m.HeapPerConnKB <= 0 || m.MarginalStackPerConnKB <= 0) {
			t.Errorf("ssld's Go stack/heap per idle connection missing: %+v", m)
		}
	}
	// ssld/bare, bare vitess/bare, ssld/bare vitess, ssld with/without
	// reload, ssld with/without session cache.
	wantRatios := 5
	if mariadb {
		wantRatios = 11
	}
	if len(rep.Ratios) != wantRatios {
		t.Errorf("%d ratios, want %d: %+v", len(rep.Ratios), wantRatios, rep.Ratios)
	}
	for _, r := range rep.Ratios {
		if !(r.Value > 0) {
			t.Errorf("ratio %q = %v", r.Name, r.Value)
		}
	}
	if !strings.Contains(out, "ssld / bare crypto/tls") || !strings.Contains(out, "ssld / bare vitess") {
		t.Errorf("the printed table lacks the ratios:\n%s", out)
	}

	// The JSON round-trips.
	p := filepath.Join(t.TempDir(), "bench.json")
	if err := writeJSON(p, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Targets) != len(rep.Targets) || len(back.Targets) == 0 {
		t.Errorf("JSON targets: %d, want %d", len(back.Targets), len(rep.Targets))
	}
	return rep
}

func checkLoad(t *testing.T, what string, l *LoadResult) {
	t.Helper()
	if l == nil {
		t.Errorf("%s: no figures", what)
		return
	}
	if l.Conns == 0 || l.Seconds <= 0 || l.ServerCPUSeconds <= 0 || l.CPUPerConnMs <= 0 || l.ConnsPerSec <= 0 {
		t.Errorf("%s: missing figures: %+v", what, l)
	}
	if l.Failed > 0 {
		t.Errorf("%s: %d connections failed, first: %s", what, l.Failed, l.FirstError)
	}
}

// TestQuickBench runs the CI smoke mode against ssld and the two bare
// servers (crypto/tls and vitess).
func TestQuickBench(t *testing.T) {
	quickRun(t, false)
}

// TestQuickBenchMariaDB adds the MariaDB side. Under CI=true a missing
// mariadbd fails the test instead of skipping it.
func TestQuickBenchMariaDB(t *testing.T) {
	testenv.RequireMariaDB(t)
	rep := quickRun(t, true)
	if rep.Machine.MariaDB == "" {
		t.Errorf("MariaDB version not recorded")
	}
}

// TestBenchBackendsAndKeyExchanges runs a short bench over both crypto
// backends and both key exchanges: four configurations, each with the bare
// TLS server signing through the same backend as ssld, and the ratios
// across them (post-quantum exchange over X25519, OpenSSL over Go).
func TestBenchBackendsAndKeyExchanges(t *testing.T) {
	o := defaultOptions()
	o.applyQuick()
	o.duration, o.warmup, o.idleConns = 300*time.Millisecond, 100*time.Millisecond, 10
	o.backends, o.kexes = []string{"openssl", "go"}, []string{kexDefault, kexX25519}
	rep, _ := runBench(t, o, true)
	if len(rep.KeyTypes) != 4 {
		t.Fatalf("%d configurations, want 4 (2 backends x 2 key exchanges)", len(rep.KeyTypes))
	}
	groups := map[string]string{}
	for _, k := range rep.KeyTypes {
		for _, name := range []string{"ssld", "bare-tls", "bare-vitess"} {
			s := k.server(name)
			if s == nil {
				t.Fatalf("%s: no %s", k.label(), name)
			}
			checkLoad(t, k.label()+" "+name, s.Without)
			if s.Handshake == nil {
				t.Fatalf("%s %s: no handshake seen", k.label(), name)
			}
			groups[k.KeyExchange+" "+name] = s.Handshake.Group
			full := k.KeyExchange == kexX25519
			if name == "ssld" && full != (s.WithReload != nil) {
				t.Errorf("%s: reload phase ran %v, want %v", k.label(), s.WithReload != nil, full)
			}
		}
	}
	if groups["x25519 ssld"] != "X25519" || groups["x25519 bare-tls"] != "X25519" || groups["x25519 bare-vitess"] != "X25519" {
		t.Errorf("like for like negotiated %v", groups)
	}
	if g := groups["default ssld"]; g == "X25519" || g == "" {
		t.Errorf("default key exchange negotiated %q, want Go's post-quantum default", g)
	}
	var kex, backend int
	for _, r := range rep.Ratios {
		switch {
		case strings.Contains(r.Name, "default key exchange"):
			kex++
		case strings.Contains(r.Name, "OpenSSL / Go signer"):
			backend++
		}
		// Every ratio is a number. One with a limit compares two busy
		// phases and is positive; a context ratio may be 0 in quick mode,
		// where a phase's CPU can round to no clock tick (/proc counts 10 ms).
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 || (r.Limit > 0 && r.Value == 0) {
			t.Errorf("ratio %q %s = %v", r.Name, r.Config, r.Value)
		}
	}
	if kex != 4 || backend != 4 {
		t.Errorf("%d key-exchange and %d backend ratios, want 4 and 4: %+v", kex, backend, rep.Ratios)
	}
	if len(rep.Memory) != 2 || rep.Memory[0].Backend != "openssl" || rep.Memory[1].Backend != "go" {
		t.Errorf("memory per ssld: %+v", rep.Memory)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := latency(d, 2)
	if l.N != 100 || l.Failed != 2 || l.P50Ms != 50 || l.P99Ms != 99 || l.MaxMs != 100 {
		t.Errorf("latency: %+v", l)
	}
	if l := latency(nil, 0); l.N != 0 || l.P99Ms != 0 {
		t.Errorf("empty latency: %+v", l)
	}
}

func TestCPUTimeAndRSSOfSelf(t *testing.T) {
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	kb, err := rssKB(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("rss: %d, %v", kb, err)
	}
}

package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssld/ssld/internal/testenv"
)

// TestQuickBenchMixed runs the mixed-client load end to end in quick mode,
// with MariaDB: a node serving ECDSA and RSA under 80% ECDSA-capable
// clients, and the baselines. It checks that every figure is there, no
// connection failed and the ratios and targets are computed; it asserts no
// timing (CI machines vary too much).
func TestQuickBenchMixed(t *testing.T) {
	testenv.RequireMariaDB(t)
	o := defaultOptions()
	o.quick, o.mariadb = true, true
	o.applyQuick()
	o.keyTypes = []string{keyECDSA, keyRSA}
	o.idleConns = 20
	o.mixed = 0.8
	rep, out := runBench(t, o, false)
	x := rep.Mixed
	if x == nil {
		t.Fatal("no mixed-client figures")
	}
	for name, l := range map[string]*LoadResult{"mixed": x.Mixed, "mixed, RSA-only clients": x.MixedRSAOnly,
		"RSA node, RSA-only clients": x.RSANodeRSAOnly, "RSA node": x.RSANode, "MariaDB": x.MariaDB, "bare TLS": x.BareTLS} {
		checkLoad(t, name, l)
	}
	targets := 0
	for _, tg := range rep.Targets {
		if tg.KeyType == "ecdsa+rsa" {
			targets++
		}
	}
	if targets != 2 {
		t.Errorf("mixed targets: %d, want 2: %+v", targets, rep.Targets)
	}
	if !strings.Contains(out, "two-certificate ssld, mixed clients / MariaDB serving RSA") {
		t.Errorf("the table lacks the mixed ratio:\n%s", out)
	}
}

// TestMixedConnectShare: the mixed load opens share of its connections
// with the ECDSA-capable client, in every 100 in a row.
func TestMixedConnectShare(t *testing.T) {
	var e, r atomic.Int64
	connect := mixedConnect(func(context.Context) error { e.Add(1); return nil }, func(context.Context) error { r.Add(1); return nil }, 0.8)
	for range 1000 {
		_ = connect(context.Background())
	}
	if e.Load() != 800 || r.Load() != 200 {
		t.Fatalf("ECDSA-capable %d, RSA-only %d of 1000, want 800 and 200", e.Load(), r.Load())
	}
}

// TestEvaluateMixed: the two targets of the mixed run and their context
// ratios, from fixed figures.
func TestEvaluateMixed(t *testing.T) {
	l := func(ms float64) *LoadResult { return &LoadResult{CPUPerConnMs: ms} }
	rep := &Report{Mixed: &MixedResult{ECDSAShare: 0.8, Backend: "openssl", Mixed: l(0.40), MixedRSAOnly: l(0.62),
		RSANodeRSAOnly: l(0.60), RSANode: l(0.58), MariaDB: l(0.80), BareTLS: l(0.50)}}
	rep.evaluateMixed()
	got := map[string]Target{}
	for _, tg := range rep.Targets {
		got[tg.Name] = tg
	}
	mdb := got["two-certificate ssld, mixed clients / MariaDB serving RSA, CPU per connection"]
	if mdb.Value != 0.5 || mdb.Limit != 0.55 || !mdb.Met {
		t.Errorf("mixed / MariaDB: %+v", mdb)
	}
	rsa := got["RSA-only clients: two-certificate ssld / RSA-only ssld, CPU per connection"]
	if rsa.Limit != 1.03 || rsa.Met || rsa.Value < 1.033 || rsa.Value > 1.034 {
		t.Errorf("RSA-only clients: %+v", rsa)
	}
	if len(rep.Ratios) != 5 {
		t.Errorf("ratios: %+v", rep.Ratios)
	}
}

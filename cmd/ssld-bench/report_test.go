package main

import (
	"testing"
)

// TestEvaluate: ratios and targets from a made-up report. A server the run
// lacks (MariaDB) or a phase a configuration did not run (reloads in a
// default-key-exchange configuration) leaves its ratios out, and the
// targets use the right figures.
func TestEvaluate(t *testing.T) {
	lr := func(ms float64) *LoadResult { return &LoadResult{CPUPerConnMs: ms} }
	full := KeyResult{KeyType: keyECDSA, Backend: "go", KeyExchange: kexX25519, Servers: []ServerResult{
		{Server: "ssld", Without: lr(0.30), WithReload: lr(0.31), Resumption: lr(0.20),
			ReloadLoaded: &Latency{P99Ms: 4}},
		{Server: "bare-tls", Without: lr(0.20)},
		{Server: "bare-vitess", Without: lr(0.25)},
	}}
	partial := KeyResult{KeyType: keyECDSA, Backend: "go", KeyExchange: kexDefault, Servers: []ServerResult{
		{Server: "ssld", Without: lr(0.40), Handshake: &handshakeInfo{Group: "X25519MLKEM768"}},
		{Server: "bare-tls", Without: lr(0.25)},
	}}
	r := &Report{KeyTypes: []KeyResult{full, partial},
		Memory: []MemoryResult{{Server: "ssld", Backend: "go", IdleRSSKB: 20 << 10, PerConnKB: 70, MarginalPerConnKB: 40}}}
	r.evaluate()

	got := map[string]float64{}
	for _, ra := range r.Ratios {
		got[ra.Config+" | "+ra.Name] = ra.Value
	}
	want := map[string]float64{
		"ecdsa-p256 go x25519 | ssld / bare crypto/tls, CPU per connection":                                  1.5,
		"ecdsa-p256 go x25519 | bare vitess / bare crypto/tls, CPU per connection":                           1.25,
		"ecdsa-p256 go x25519 | ssld / bare vitess, CPU per connection":                                      1.2,
		"ecdsa-p256 go x25519 | ssld reloading every interval / not, CPU per connection":                     0.31 / 0.30,
		"ecdsa-p256 go x25519 | ssld with session cache / without, CPU per connection":                       0.20 / 0.30,
		"ecdsa-p256 go default | ssld / bare crypto/tls, CPU per connection":                                 1.6,
		"ecdsa-p256 go | ssld default key exchange (X25519MLKEM768) / X25519, CPU per connection":            0.40 / 0.30,
		"ecdsa-p256 go | bare crypto/tls default key exchange (X25519MLKEM768) / X25519, CPU per connection": 1.25,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g < v-1e-9 || g > v+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d ratios, want %d (no MariaDB ratio, no ratio of a phase not run): %v", len(got), len(want), got)
	}

	targets := map[string]Target{}
	for _, tg := range r.Targets {
		targets[tg.Name+" | "+tg.Config] = tg
	}
	for name, met := range map[string]bool{
		"ssld / bare crypto/tls, CPU per connection | ecdsa-p256 go x25519":              false, // 1.5 > 1.25
		"ssld reloading every interval / not, CPU per connection | ecdsa-p256 go x25519": true,
		"ssld reload p99 under load | ecdsa-p256 go x25519":                              true,
		"ssld failed connections while reloading | ecdsa-p256 go x25519":                 true,
		"ssld idle RSS (go) | ":                               true,
		"ssld RSS per additional idle TLS connection (go) | ": true, // 40, not the first batch's 70
	} {
		tg, ok := targets[name]
		if !ok || tg.Met != met {
			t.Errorf("target %q: %+v (present %v), want met=%v", name, tg, ok, met)
		}
	}
	if len(targets) != 6 {
		t.Errorf("%d targets, want 6 (none from the default-key-exchange configuration): %v", len(targets), r.Targets)
	}
}

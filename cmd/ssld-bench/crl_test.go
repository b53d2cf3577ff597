package main

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

// TestQuickBenchCRL runs the client-certificate run end to end in quick
// mode, with MariaDB and a CRL of 1,000 serials: ssld and MariaDB each
// with and without the CRL, every login with a client certificate. The
// run itself refuses to measure unless a revoked certificate is refused
// exactly where the CRL applies and a login without a certificate
// everywhere. The test checks that every figure is there, no login
// failed, and the ratios and the four targets are computed; it asserts no
// timing (CI machines vary too much).
func TestQuickBenchCRL(t *testing.T) {
	testenv.RequireMariaDB(t)
	o := defaultOptions()
	o.quick, o.mariadb = true, true
	o.applyQuick()
	o.crl = 1000
	rep, out := runBench(t, o, false)
	x := rep.CRL
	if x == nil {
		t.Fatal("no client-certificate figures")
	}
	if len(rep.KeyTypes) != 0 || rep.Mixed != nil {
		t.Errorf("the client-certificate run ran other configurations too: %+v", rep.KeyTypes)
	}
	for name, l := range map[string]*LoadResult{"ssld with the CRL": x.SSLD, "ssld without": x.SSLDNoCRL,
		"MariaDB with the CRL": x.MariaDB, "MariaDB without": x.MariaDBNoCRL} {
		checkLoad(t, name, l)
	}
	if x.Revoked != 1000 || x.CRLBytes <= 0 || x.KeyType != keyECDSA || x.Backend == "" {
		t.Errorf("CRL run: %+v", x)
	}
	if x.Handshake == nil || x.Handshake.KeyAlg != "ECDSA" {
		t.Errorf("handshake: %+v", x.Handshake)
	}
	if x.ReloadMs <= 0 || x.RSSBeforeKB <= 0 || x.RSSAfterKB <= 0 || x.HeapAfterMiB <= 0 || x.RSSAfterLoadKB <= 0 ||
		x.MariaDBRSSKB <= 0 || x.MariaDBNoKB <= 0 || x.MariaDBFlushMs <= 0 {
		t.Errorf("reload and memory figures missing: %+v", x)
	}
	if len(x.SSLDRounds) != o.rounds || len(x.NoCRLRounds) != o.rounds {
		t.Errorf("per-round figures: %v, %v", x.SSLDRounds, x.NoCRLRounds)
	}
	targets := map[string]Target{}
	for _, tg := range rep.Targets {
		targets[tg.Name] = tg
	}
	for name, unit := range map[string]string{
		"ssld / MariaDB, both with the CRL, CPU per client-certificate login": "×",
		"ssld with the CRL − without, CPU per client-certificate login":       "µs",
		"ssld SSL_RELOAD adding the CRL":                                      "s",
		"ssld extra RSS after the reload adding the CRL":                      "MiB",
	} {
		if tg, ok := targets[name]; !ok || tg.Unit != unit {
			t.Errorf("target %q: %+v", name, tg)
		}
	}
	if len(rep.Targets) != 4 || len(rep.Ratios) != 4 {
		t.Errorf("%d targets, %d ratios, want 4 and 4: %+v %+v", len(rep.Targets), len(rep.Ratios), rep.Targets, rep.Ratios)
	}
	for _, want := range []string{"ssld / MariaDB, both with the CRL", "ssld SSL_RELOAD adding the CRL", "MariaDB with the CRL"} {
		if !strings.Contains(out, want) {
			t.Errorf("the printed report lacks %q:\n%s", want, out)
		}
	}
}

// TestMakeCRL: the CRL holds n distinct serials, among them the one asked
// for, and verifies against its CA.
func TestMakeCRL(t *testing.T) {
	ca, err := pki.NewCA("crl test CA")
	if err != nil {
		t.Fatal(err)
	}
	revoked := big.NewInt(4242)
	b, err := makeCRL(ca, 101, revoked)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("not a PEM CRL: %.40q", b)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Sign() <= 0 {
			t.Errorf("serial %v", e.SerialNumber)
		}
		seen[e.SerialNumber.String()] = true
	}
	if len(crl.RevokedCertificateEntries) != 101 || len(seen) != 101 || !seen["4242"] {
		t.Errorf("%d entries, %d distinct, revoked serial listed: %v", len(crl.RevokedCertificateEntries), len(seen), seen["4242"])
	}
	if _, err := makeCRL(ca, 0, revoked); err == nil {
		t.Error("a CRL of 0 serials was made")
	}
}

// TestEvaluateCRL: the four targets of the client-certificate run and its
// context ratios, from fixed figures.
func TestEvaluateCRL(t *testing.T) {
	l := func(ms float64) *LoadResult { return &LoadResult{CPUPerConnMs: ms} }
	rep := &Report{CRL: &CRLResult{Revoked: 1_000_000, KeyType: keyECDSA, Backend: "openssl", KeyExchange: kexX25519,
		SSLD: l(0.4015), SSLDNoCRL: l(0.4), MariaDB: l(0.8), MariaDBNoCRL: l(0.5), ReloadMs: 2100, ExtraRSSMiB: 100}}
	rep.evaluateCRL()
	got := map[string]Target{}
	for _, tg := range rep.Targets {
		got[tg.Name] = tg
	}
	if tg := got["ssld / MariaDB, both with the CRL, CPU per client-certificate login"]; tg.Value < 0.50 || tg.Value > 0.51 || tg.Limit != 0.7 || !tg.Met {
		t.Errorf("ssld / MariaDB: %+v", tg)
	}
	if tg := got["ssld with the CRL − without, CPU per client-certificate login"]; tg.Value < 1.49 || tg.Value > 1.51 || tg.Limit != 2 || !tg.Met {
		t.Errorf("added per login: %+v", tg)
	}
	if tg := got["ssld SSL_RELOAD adding the CRL"]; tg.Value != 2.1 || tg.Limit != 2 || tg.Met {
		t.Errorf("reload: %+v", tg)
	}
	if tg := got["ssld extra RSS after the reload adding the CRL"]; tg.Value != 100 || tg.Limit != 128 || !tg.Met {
		t.Errorf("RSS: %+v", tg)
	}
	if len(rep.Targets) != 4 || len(rep.Ratios) != 4 {
		t.Errorf("targets %+v, ratios %+v", rep.Targets, rep.Ratios)
	}
	// Without MariaDB: no MariaDB ratios or target.
	rep = &Report{CRL: &CRLResult{SSLD: l(0.4), SSLDNoCRL: l(0.4)}}
	rep.evaluateCRL()
	if len(rep.Targets) != 3 || len(rep.Ratios) != 1 {
		t.Errorf("without MariaDB: targets %+v, ratios %+v", rep.Targets, rep.Ratios)
	}
}

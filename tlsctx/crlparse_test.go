package tlsctx

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseCRLDERMatchesX509: the list walk finds what
// x509.ParseRevocationList finds (serials that need a leading zero, a
// 20-byte one, entry extensions, a GeneralizedTime date), the CRL's own
// fields are Go's, and the signature covers the whole list: a changed
// entry fails CheckSignatureFrom.
func TestParseCRLDERMatchesX509(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	invalidity, err := asn1.MarshalWithParams(now.Add(-time.Hour), "generalized")
	require.NoError(t, err)
	long := new(big.Int).SetBytes([]byte{0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19})
	tmpl := &x509.RevocationList{Number: big.NewInt(42), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(1), RevocationTime: now},
			{SerialNumber: big.NewInt(0x80), RevocationTime: now.Add(-time.Minute)},
			{SerialNumber: long, RevocationTime: time.Date(2060, 1, 2, 3, 4, 5, 0, time.UTC)},
			{SerialNumber: big.NewInt(0xff00), RevocationTime: now, ReasonCode: 1,
				ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 24}, Value: invalidity}}},
		}}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, f.ca.Cert, f.ca.Key)
	require.NoError(t, err)
	want, err := x509.ParseRevocationList(der)
	require.NoError(t, err)

	got, err := parseCRLDER(der)
	require.NoError(t, err)
	assert.Equal(t, want.RawIssuer, got.rl.RawIssuer)
	assert.Equal(t, want.ThisUpdate, got.rl.ThisUpdate)
	assert.Equal(t, want.NextUpdate, got.rl.NextUpdate)
	assert.Equal(t, want.Number, got.rl.Number)
	assert.Equal(t, len(want.RevokedCertificateEntries), got.count)
	require.NoError(t, got.rl.CheckSignatureFrom(f.ca.Cert))
	var i int
	require.NoError(t, got.entries(func(serial serialKey, at time.Time) {
		e := want.RevokedCertificateEntries[i]
		assert.Equal(t, makeSerialKey(e.SerialNumber.Bytes()), serial, "entry %d", i)
		assert.True(t, e.RevocationTime.Equal(at), "entry %d: %v != %v", i, e.RevocationTime, at)
		i++
	}))
	assert.Equal(t, 4, i)

	// Change serial 1 to 2 in the signed list: the signature must fail.
	tampered := append([]byte{}, der...)
	idx := -1
	for j := 0; j+3 < len(tampered); j++ {
		if tampered[j] == 0x02 && tampered[j+1] == 0x01 && tampered[j+2] == 0x01 && tampered[j+3] == 0x17 { // INTEGER 1, then a UTCTime
			idx = j + 2
			break
		}
	}
	require.Positive(t, idx)
	tampered[idx] = 0x02
	bad, err := parseCRLDER(tampered)
	require.NoError(t, err)
	require.Error(t, bad.rl.CheckSignatureFrom(f.ca.Cert), "the signature covers the revoked list")

	_, err = parseCRLDER([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	require.Error(t, err)
}

func TestSerialKeyNegative(t *testing.T) {
	n := big.NewInt(-5)
	der, err := asn1.Marshal(n)
	require.NoError(t, err)
	assert.Equal(t, makeSerialKey(n.Bytes()), serialKeyDER(der[2:]))
}

// BenchmarkLoadCRLMillion loads the client and cluster channels (the
// cluster one falling back to the client's ssl_ca and ssl_crl) with an
// ssl_crl that revokes 1,000,000 serials (a 34 MB DER CRL) and reports the
// time of a load and the heap it keeps; docs/performance.md has the figures. Making the CRL takes longer
// than loading it:
//
//	go test -run '^$' -bench BenchmarkLoadCRLMillion -benchtime 3x ./tlsctx/
func BenchmarkLoadCRLMillion(b *testing.B) {
	f := newFixture(b)
	now := time.Now()
	entries := make([]x509.RevocationListEntry, 1_000_000)
	for i := range entries {
		entries[i] = x509.RevocationListEntry{SerialNumber: new(big.Int).Lsh(big.NewInt(int64(i)+1), 100), RevocationTime: now}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now,
		NextUpdate: now.Add(time.Hour), RevokedCertificateEntries: entries}, f.ca.Cert, f.ca.Key)
	require.NoError(b, err)
	entries = nil
	f.write("big.crl", der, 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("big.crl") }) // both channels: they share the table
	var kept uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rep, err := Check(context.Background(), f)
		require.NoError(b, err)
		require.NoError(b, rep.Err())
		snap := rep.Channels[0].Snapshot
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapInuse - before.HeapInuse
		require.Equal(b, 1_000_000, snap.CRLs()[0].Revoked)
		runtime.KeepAlive(snap)
	}
	b.ReportMetric(float64(kept)/(1<<20), "MiB-kept")
}

// BenchmarkRevocationLookup is the per-handshake cost of the check: one
// map access per certificate of the chain, with a million revoked
// serials.
func BenchmarkRevocationLookup(b *testing.B) {
	set := &crlSet{issuers: map[string]uint32{"issuer": 0}, revoked: newRevTable(1_000_000), crls: []CRLInfo{{}}}
	for i := range 1_000_000 {
		set.revoked.add(revKey{serial: makeSerialKey(new(big.Int).Lsh(big.NewInt(int64(i)+1), 100).Bytes())}, revEntry{})
	}
	s := &Snapshot{crls: set}
	c := &x509.Certificate{RawIssuer: []byte("issuer"), SerialNumber: big.NewInt(12345)}
	chain := []*x509.Certificate{c}
	for b.Loop() {
		if s.CheckRevoked(chain) != nil {
			b.Fatal("not revoked")
		}
	}
}

// TestRevTableCollisions: revocations whose keys share a hash are chained
// and each is found; a serial listed twice keeps its first record; a key
// absent from a chain is not found.
func TestRevTableCollisions(t *testing.T) {
	for name, hash := range map[string]func(revKey) uint64{
		"every key collides": func(revKey) uint64 { return 7 },
		"maphash":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			tbl := newRevTable(0)
			tbl.hash = hash
			key := func(issuer uint32, serial int64) revKey {
				return revKey{issuer: issuer, serial: makeSerialKey(big.NewInt(serial).Bytes())}
			}
			for i := range 100 {
				require.True(t, tbl.add(key(uint32(i%3), int64(i)), revEntry{crl: uint32(i), revokedAt: int64(1000 + i)}))
			}
			assert.False(t, tbl.add(key(0, 0), revEntry{crl: 99, revokedAt: 1}), "a serial listed again keeps its first record")
			assert.Equal(t, 100, tbl.len())
			for i := range 100 {
				e, ok := tbl.get(key(uint32(i%3), int64(i)))
				require.True(t, ok, i)
				assert.Equal(t, revEntry{crl: uint32(i), revokedAt: int64(1000 + i)}, e)
			}
			_, ok := tbl.get(key(1, 0)) // serial 0 was revoked by issuer 0 only
			assert.False(t, ok)
			_, ok = tbl.get(key(0, 1000))
			assert.False(t, ok)
		})
	}
}

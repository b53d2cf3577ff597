package sysvars

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/tlsctx"
)

// tlsFixture is a real tlsctx.Manager over files in a temp dir whose settings
// the test can change between reloads.
type tlsFixture struct {
	dir string
	ca  *pki.CA
	mu  sync.Mutex
	set tlsctx.Settings
	m   *tlsctx.Manager
}

func (f *tlsFixture) settings() tlsctx.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

func (f *tlsFixture) writeLeaf(t *testing.T, cn string) *pki.Leaf {
	t.Helper()
	leaf := pkitest.MustIssue(t, f.ca, pki.LeafOptions{CN: cn, DNSNames: []string{"localhost"}})
	require.NoError(t, pki.WriteFile(filepath.Join(f.dir, "server.crt"), leaf.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(f.dir, "server.key"), leaf.KeyPEM, 0o600))
	return leaf
}

func newTLSFixture(t *testing.T) (*tlsFixture, *pki.Leaf) {
	t.Helper()
	f := &tlsFixture{dir: t.TempDir(), ca: pkitest.MustCA(t, "sysvars test CA")}
	leaf := f.writeLeaf(t, "server-1")
	require.NoError(t, pki.WriteFile(filepath.Join(f.dir, "ca.crt"), f.ca.CertPEM, 0o644))
	f.set = tlsctx.Settings{
		SSLCert: filepath.Join(f.dir, "server.crt"),
		SSLKey:  filepath.Join(f.dir, "server.key"),
		SSLCA:   filepath.Join(f.dir, "ca.crt"),
	}
	m, err := tlsctx.New(context.Background(), tlsctx.SourceFunc(func(context.Context) (tlsctx.Settings, error) {
		return f.settings(), nil
	}))
	require.NoError(t, err)
	f.m = m
	return f, leaf
}

func value(t *testing.T, r *Registry, name string) string {
	t.Helper()
	v, ok := r.Get(name)
	require.True(t, ok, "variable %s", name)
	return v.Value()
}

func TestAddTLSFollowsManager(t *testing.T) {
	f, leaf := newTLSFixture(t)
	r := NewRegistry()
	require.NoError(t, AddTLS(r, f.m))
	require.Error(t, AddTLS(NewRegistry(), nil))

	// Initial load is not a reload attempt.
	initial := map[string]string{
		"ssl_cert":                        f.set.SSLCert,
		"ssl_key":                         f.set.SSLKey,
		"ssl_ca":                          f.set.SSLCA,
		"ssl_capath":                      "",
		"ssl_key_passphrase":              "[redacted]",
		"cluster_ssl_cert":                f.set.SSLCert, // falls back to ssl_*
		"have_ssl":                        "YES",
		"tls_version":                     "TLSv1.2,TLSv1.3",
		"ssl_last_reload_attempt_time":    "",
		"ssl_last_successful_reload_time": "",
		"ssl_last_reload_error":           "",
		"ssl_reload_generation":           "1",
		"ssl_server_serial":               tlsctx.FormatSerial(leaf.Cert.SerialNumber),
		"ssl_server_not_after":            leaf.Cert.NotAfter.UTC().Format(TimeFormat),
		"ssl_server_not_before":           leaf.Cert.NotBefore.UTC().Format(TimeFormat),
	}
	for name, want := range initial {
		assert.Equal(t, want, value(t, r, name), name)
	}
	assert.Len(t, value(t, r, "ssl_server_fingerprint"), 64)
	assert.Contains(t, []string{"openssl", "go"}, value(t, r, "ssl_crypto_backend"))
	assert.Equal(t, string(f.m.Current(tlsctx.ChannelClient).KeyBackend), value(t, r, "ssl_crypto_backend"))
	for _, v := range r.All() {
		assert.Equal(t, ScopeGlobal, v.Scope, v.Name)
		assert.True(t, v.ReadOnly, v.Name)
	}

	// A successful reload with a new certificate: values follow, no copy.
	leaf2 := f.writeLeaf(t, "server-2")
	_, err := f.m.Reload(context.Background(), tlsctx.WithTrigger("test"))
	require.NoError(t, err)
	assert.Equal(t, tlsctx.FormatSerial(leaf2.Cert.SerialNumber), value(t, r, "ssl_server_serial"))
	assert.Equal(t, "2", value(t, r, "ssl_reload_generation"))
	attempt := value(t, r, "ssl_last_reload_attempt_time")
	_, err = time.Parse(TimeFormat, attempt)
	require.NoError(t, err, "attempt time %q", attempt)
	assert.Equal(t, attempt, value(t, r, "ssl_last_successful_reload_time"))

	// A failed reload: the served certificate is still reported, the error
	// is visible.
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "server.crt"), []byte("garbage"), 0o644))
	_, err = f.m.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, tlsctx.FormatSerial(leaf2.Cert.SerialNumber), value(t, r, "ssl_server_serial"))
	assert.NotEmpty(t, value(t, r, "ssl_last_reload_error"))
	assert.Equal(t, "2", value(t, r, "ssl_reload_generation"))
	assert.Equal(t, attempt, value(t, r, "ssl_last_successful_reload_time"))
}

func TestPassphraseRedacted(t *testing.T) {
	f, _ := newTLSFixture(t)
	fake := fakeState{snap: f.m.Current(tlsctx.ChannelClient), status: f.m.Status()}
	fake.status.Settings.SSLKeyPassphrase = "s3cret"
	r := NewRegistry()
	require.NoError(t, addTLS(r, fake))
	assert.Equal(t, "[redacted]", value(t, r, "ssl_key_passphrase"))
}

func TestTLSOff(t *testing.T) {
	fake := fakeState{snap: &tlsctx.Snapshot{Channel: tlsctx.ChannelClient, Generation: 1}, status: tlsctx.Status{Generation: 1}}
	r := NewRegistry()
	require.NoError(t, addTLS(r, fake))
	assert.Equal(t, "DISABLED", value(t, r, "have_ssl"))
	for _, n := range []string{"ssl_server_serial", "ssl_server_fingerprint", "ssl_server_not_before", "ssl_server_not_after", "ssl_cert"} {
		assert.Equal(t, "", value(t, r, n), n)
	}
}

type fakeState struct {
	snap   *tlsctx.Snapshot
	status tlsctx.Status
}

func (f fakeState) Current(tlsctx.Channel) *tlsctx.Snapshot { return f.snap }
func (f fakeState) Status() tlsctx.Status                   { return f.status }

func TestFormatTime(t *testing.T) {
	assert.Equal(t, "", FormatTime(time.Time{}))
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	assert.Equal(t, "2026-01-02 02:04:05.123456", FormatTime(ts))
}

package sysvars

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/tlsctx"
)

func value(t *testing.T, r *Registry, name string) string {
	t.Helper()
	v, ok := r.Get(name)
	require.True(t, ok, "variable %s", name)
	return v.Value()
}

func TestAddTLSFollowsManager(t *testing.T) {
	f := tlstest.New(t, "sysvars test CA", true)
	leaf := f.First
	r := NewRegistry()
	require.NoError(t, AddTLS(r, f.M))
	require.Error(t, AddTLS(NewRegistry(), nil))

	// Initial load is not a reload attempt.
	initial := map[string]string{
		"ssl_cert":                        f.Settings.SSLCert,
		"ssl_key":                         f.Settings.SSLKey,
		"ssl_ca":                          f.Settings.SSLCA,
		"ssl_capath":                      "",
		"ssl_key_passphrase":              "[redacted]",
		"cluster_ssl_cert":                f.Settings.SSLCert, // falls back to ssl_*
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
	assert.Equal(t, string(f.M.Current(tlsctx.ChannelClient).KeyBackend), value(t, r, "ssl_crypto_backend"))
	// MySQL's dynamic TLS settings are not ReadOnly (SET SESSION is 1229);
	// the rest are.
	dynamic := map[string]bool{"ssl_cert": true, "ssl_key": true, "ssl_ca": true, "ssl_capath": true, "tls_version": true,
		"cluster_ssl_cert": true, "cluster_ssl_key": true, "cluster_ssl_ca": true, "cluster_ssl_capath": true,
		"ssl_cipher": true, "tls_ciphersuites": true, "ssl_groups": true,
		"cluster_tls_version": true, "cluster_ssl_cipher": true, "cluster_tls_ciphersuites": true, "cluster_ssl_groups": true,
		"ssl_crl": true, "ssl_crlpath": true, "cluster_ssl_crl": true, "cluster_ssl_crlpath": true}
	for _, v := range r.All() {
		assert.Equal(t, ScopeGlobal, v.Scope, v.Name)
		assert.Equal(t, !dynamic[v.Name], v.ReadOnly, v.Name)
	}

	// A successful reload with a new certificate: values follow, no copy.
	leaf2 := f.Write("second")
	_, err := f.M.Reload(context.Background(), tlsctx.WithTrigger("test"))
	require.NoError(t, err)
	assert.Equal(t, tlsctx.FormatSerial(leaf2.Cert.SerialNumber), value(t, r, "ssl_server_serial"))
	assert.Equal(t, "2", value(t, r, "ssl_reload_generation"))
	attempt := value(t, r, "ssl_last_reload_attempt_time")
	_, err = time.Parse(TimeFormat, attempt)
	require.NoError(t, err, "attempt time %q", attempt)
	assert.Equal(t, attempt, value(t, r, "ssl_last_successful_reload_time"))

	// A failed reload: the served certificate is still reported, the error
	// is visible.
	require.NoError(t, os.WriteFile(f.CertPath, []byte("garbage"), 0o644))
	_, err = f.M.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, tlsctx.FormatSerial(leaf2.Cert.SerialNumber), value(t, r, "ssl_server_serial"))
	assert.NotEmpty(t, value(t, r, "ssl_last_reload_error"))
	assert.Equal(t, "2", value(t, r, "ssl_reload_generation"))
	assert.Equal(t, attempt, value(t, r, "ssl_last_successful_reload_time"))
}

func TestPassphraseRedacted(t *testing.T) {
	f := tlstest.New(t, "sysvars test CA", true)
	fake := fakeState{snap: f.M.Current(tlsctx.ChannelClient), status: f.M.Status()}
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

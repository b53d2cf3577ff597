package tlsctx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

func TestReloadRejectsBadInput(t *testing.T) {
	past := time.Now().Add(-72 * time.Hour)
	future := time.Now().Add(72 * time.Hour)
	// fifoAt puts a named pipe at name and points the setting field at it.
	fifoAt := func(name string, mode uint32, field func(*Settings) *string) func(*testing.T, *fixture, *Manager) {
		return func(t *testing.T, f *fixture, m *Manager) {
			require.NoError(t, syscall.Mkfifo(f.path(name), mode))
			f.set(func(s *Settings) { *field(s) = f.path(name) })
		}
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T, f *fixture, m *Manager)
		channel Channel
		setting string
		file    string // fixture-relative; "" = no file
		reason  string
	}{
		{name: "cert missing", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.SSLCert = f.path("nope.crt") })
		}, channel: ChannelClient, setting: "ssl_cert", file: "nope.crt", reason: "does not exist"},
		{name: "key missing", setup: func(t *testing.T, f *fixture, m *Manager) {
			require.NoError(t, os.Remove(f.path("server.key")))
		}, setting: "ssl_key", file: "server.key", reason: "does not exist"},
		{name: "key unreadable", setup: func(t *testing.T, f *fixture, m *Manager) {
			// Tests may run as root, where chmod 000 does not stop a read:
			// emulate the failure at the file-reader seam.
			m.readFile = func(p string, limit int64) ([]byte, fs.FileMode, error) {
				if p == f.path("server.key") {
					return nil, 0, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
				}
				return readBounded(p, limit)
			}
		}, setting: "ssl_key", file: "server.key", reason: "permission denied"},
		{name: "cert empty", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.crt", nil, 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "file is empty"},
		{name: "cert truncated", setup: func(t *testing.T, f *fixture, m *Manager) {
			l := f.issue(pki.LeafOptions{})
			f.write("server.crt", l.CertPEM[:len(l.CertPEM)/2], 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "truncated"},
		{name: "cert garbage", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.crt", []byte("hello, I am not a certificate\n"), 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "no PEM data"},
		{name: "cert DER", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.crt", f.issue(pki.LeafOptions{}).Cert.Raw, 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "not PEM (looks like DER)"},
		{name: "cert block does not parse", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 1, 2}}), 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "does not parse"},
		{name: "key holds a certificate", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.key", f.issue(pki.LeafOptions{}).CertPEM, 0o600)
		}, setting: "ssl_key", file: "server.key", reason: "no PRIVATE KEY"},
		{name: "key does not match cert", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.key", f.issue(pki.LeafOptions{}).KeyPEM, 0o600)
		}, setting: "ssl_key", file: "server.key", reason: "does not match the certificate"},
		{name: "cert expired", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.writeLeaf("server", f.issue(pki.LeafOptions{CN: "old", NotBefore: past, NotAfter: past.Add(time.Hour)}))
		}, setting: "ssl_cert", file: "server.crt", reason: "certificate expired at " + past.Add(time.Hour).UTC().Format(time.RFC3339)},
		{name: "cert not yet valid", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.writeLeaf("server", f.issue(pki.LeafOptions{CN: "new", NotBefore: future, NotAfter: future.Add(time.Hour)}))
		}, setting: "ssl_cert", file: "server.crt", reason: "not yet valid: valid from " + future.UTC().Format(time.RFC3339)},
		{name: "CA certificate as leaf", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.writeLeaf("server", f.issue(pki.LeafOptions{CN: "ca-ish", IsCA: true}))
		}, setting: "ssl_cert", file: "server.crt", reason: "is a CA certificate"},
		{name: "client-auth only EKU", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.writeLeaf("server", f.issue(pki.LeafOptions{CN: "client", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}))
		}, setting: "ssl_cert", file: "server.crt", reason: "not valid for server authentication"},
		{name: "encrypted key without passphrase", setup: func(t *testing.T, f *fixture, m *Manager) {
			l := f.issue(pki.LeafOptions{})
			f.write("server.crt", l.CertPEM, 0o644)
			f.write("server.key", pkitest.LegacyEncryptedKey(t, l, "s3cret"), 0o600)
		}, setting: "ssl_key", file: "server.key", reason: "key is encrypted and ssl_key_passphrase is empty"},
		{name: "encrypted key wrong passphrase", setup: func(t *testing.T, f *fixture, m *Manager) {
			l := f.issue(pki.LeafOptions{})
			f.write("server.crt", l.CertPEM, 0o644)
			f.write("server.key", pkitest.LegacyEncryptedKey(t, l, "s3cret"), 0o600)
			f.set(func(s *Settings) { s.SSLKeyPassphrase = "wrong" })
		}, setting: "ssl_key", file: "server.key", reason: "wrong ssl_key_passphrase"},
		{name: "encrypted PKCS#8 key malformed", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}), 0o600)
			f.set(func(s *Settings) { s.SSLKeyPassphrase = "x" })
		}, setting: "ssl_key", file: "server.key", reason: "encrypted PKCS#8 key cannot be read"},
		{name: "CA file garbage", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("ca.crt", []byte("garbage"), 0o644)
		}, setting: "ssl_ca", file: "ca.crt", reason: "no PEM data"},
		{name: "CA file holds only a key", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("ca.crt", f.ca.KeyPEM, 0o644)
		}, setting: "ssl_ca", file: "ca.crt", reason: "no CERTIFICATE PEM block"},
		{name: "capath missing", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
		}, setting: "ssl_capath", file: "cas", reason: "folder does not exist"},
		{name: "capath is a file", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.SSLCAPath = f.path("ca.crt") })
		}, setting: "ssl_capath", file: "ca.crt", reason: "not a folder"},
		{name: "capath without certificates", setup: func(t *testing.T, f *fixture, m *Manager) {
			require.NoError(t, os.Mkdir(f.path("cas"), 0o755))
			f.write("cas/README", []byte("hi"), 0o644)
			f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
		}, setting: "ssl_capath", file: "cas", reason: "no CA certificates"},
		{name: "folder where the cert belongs", setup: func(t *testing.T, f *fixture, m *Manager) {
			require.NoError(t, os.Mkdir(f.path("dir.crt"), 0o755))
			f.set(func(s *Settings) { s.SSLCert = f.path("dir.crt") })
		}, setting: "ssl_cert", file: "dir.crt", reason: "is a directory"},
		{name: "huge cert", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("server.crt", bytes.Repeat([]byte("A"), maxFileSize+1), 0o644)
		}, setting: "ssl_cert", file: "server.crt", reason: "larger than the 1024 KiB limit"},
		{name: "FIFO at ssl_cert", setup: fifoAt("fifo.crt", 0o644, func(s *Settings) *string { return &s.SSLCert }),
			setting: "ssl_cert", file: "fifo.crt", reason: "not a regular file (a named pipe (FIFO))"},
		{name: "FIFO at ssl_key", setup: fifoAt("fifo.key", 0o600, func(s *Settings) *string { return &s.SSLKey }),
			setting: "ssl_key", file: "fifo.key", reason: "not a regular file"},
		{name: "FIFO at ssl_ca", setup: fifoAt("fifo-ca.crt", 0o644, func(s *Settings) *string { return &s.SSLCA }),
			setting: "ssl_ca", file: "fifo-ca.crt", reason: "not a regular file"},
		{name: "symlink loop", setup: func(t *testing.T, f *fixture, m *Manager) {
			require.NoError(t, os.Symlink(f.path("b.crt"), f.path("a.crt")))
			require.NoError(t, os.Symlink(f.path("a.crt"), f.path("b.crt")))
			f.set(func(s *Settings) { s.SSLCert = f.path("a.crt") })
		}, setting: "ssl_cert", file: "a.crt", reason: "symlink loop"},
		{name: "config unparsable", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.fail(errors.New("ssld.yaml: yaml: line 3: mapping values are not allowed"))
		}, setting: "config", reason: "mapping values are not allowed"},
		{name: "cert unset and key set", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.SSLCert = "" })
		}, setting: "ssl_cert", reason: "ssl_key is set but ssl_cert is empty"},
		{name: "bad tls_version", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.TLSVersion = "TLSv9" })
		}, setting: "tls_version", reason: "unknown TLS version"},
		{name: "cluster leaf does not verify against cluster CA", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.write("other-ca.crt", pkitest.MustCA(t, "other").CertPEM, 0o644)
			f.set(func(s *Settings) { s.ClusterSSLCA = f.path("other-ca.crt") })
		}, channel: ChannelCluster, setting: "ssl_cert", file: "server.crt", reason: "does not verify against the cluster CA set (cluster_ssl_ca)"},
		{name: "cluster cert missing", setup: func(t *testing.T, f *fixture, m *Manager) {
			f.set(func(s *Settings) { s.ClusterSSLCert, s.ClusterSSLKey = f.path("c.crt"), f.path("server.key") })
		}, channel: ChannelCluster, setting: "cluster_ssl_cert", file: "c.crt", reason: "does not exist"},
	}
	require.GreaterOrEqual(t, len(cases), 20)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager()
			m.pairTries, m.pairWait = 2, time.Millisecond
			old := m.Current(ChannelClient).Serial()
			oldCluster := m.Current(ChannelCluster).Serial()
			tc.setup(t, f, m)

			res, err := m.Reload(context.Background())
			require.Error(t, err)
			assert.Equal(t, Result{}, res)
			var re *ReloadError
			require.ErrorAs(t, err, &re)
			want := tc.channel
			if want == "" && tc.setting != "config" {
				want = ChannelClient
			}
			assert.Equal(t, want, re.Channel)
			assert.Equal(t, tc.setting, re.Setting)
			if tc.file != "" {
				assert.Equal(t, f.path(tc.file), re.File)
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", f.path(tc.file)))
			} else {
				assert.Empty(t, re.File)
			}
			assert.Contains(t, re.Reason, tc.reason)
			assert.Contains(t, err.Error(), tc.setting)
			assert.False(t, re.RestartRequired)

			assert.Equal(t, old, m.Current(ChannelClient).Serial(), "old client snapshot stays live")
			assert.Equal(t, oldCluster, m.Current(ChannelCluster).Serial(), "old cluster snapshot stays live")
			st := m.Status()
			assert.False(t, st.LastAttempt.IsZero(), "attempt recorded")
			assert.True(t, st.LastSuccess.IsZero(), "no success recorded")
			assert.Equal(t, err.Error(), st.LastError)
			assert.Equal(t, uint64(1), st.Generation)
		})
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	f.write("server.crt", []byte("junk"), 0o644)
	m, err := New(context.Background(), f)
	assert.Nil(t, m)
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ssl_cert", re.Setting)
	assert.Equal(t, `channel client: ssl_cert "`+f.path("server.crt")+`": no PEM data found`, err.Error())
}

func TestReloadRestartRequired(t *testing.T) {
	cases := []struct {
		name    string
		start   func(f *fixture, s *Settings)
		change  func(f *fixture, s *Settings)
		channel Channel
		setting string
		reason  string
	}{
		{name: "cert and key unset", change: func(f *fixture, s *Settings) { s.SSLCert, s.SSLKey = "", "" },
			channel: ChannelClient, setting: "ssl_cert", reason: "set to unset"},
		{name: "cert and key set", start: func(f *fixture, s *Settings) { s.SSLCert, s.SSLKey = "", "" },
			change:  func(f *fixture, s *Settings) { s.SSLCert, s.SSLKey = f.path("server.crt"), f.path("server.key") },
			channel: ChannelClient, setting: "ssl_cert", reason: "unset to set"},
		{name: "cluster cert set", start: func(f *fixture, s *Settings) { s.SSLCert, s.SSLKey = "", "" },
			change: func(f *fixture, s *Settings) {
				s.ClusterSSLCert, s.ClusterSSLKey = f.path("server.crt"), f.path("server.key")
			},
			channel: ChannelCluster, setting: "cluster_ssl_cert", reason: "unset to set"},
		{name: "CA removed", change: func(f *fixture, s *Settings) { s.SSLCA = "" },
			channel: ChannelClient, setting: "ssl_ca", reason: "some to none"},
		{name: "capath added", start: func(f *fixture, s *Settings) { s.SSLCA, s.Cluster = "", ClusterAuto },
			change:  func(f *fixture, s *Settings) { s.SSLCAPath = f.dir },
			channel: ChannelClient, setting: "ssl_capath", reason: "none to some"},
		{name: "cluster channel going", change: func(f *fixture, s *Settings) { s.Cluster = ClusterOff },
			channel: ChannelCluster, setting: "cluster_listen", reason: "served to not served"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.start != nil {
				f.set(func(s *Settings) { tc.start(f, s) })
			}
			m := f.manager()
			old := m.Current(ChannelClient)
			f.set(func(s *Settings) { tc.change(f, s) })
			_, err := m.Reload(context.Background())
			var re *ReloadError
			require.ErrorAs(t, err, &re)
			assert.True(t, re.RestartRequired)
			assert.Equal(t, tc.channel, re.Channel)
			assert.Equal(t, tc.setting, re.Setting)
			assert.Contains(t, err.Error(), tc.reason)
			assert.Contains(t, err.Error(), "requires a restart")
			assert.Same(t, old, m.Current(ChannelClient))
			assert.Equal(t, err.Error(), m.Status().LastError)
		})
	}
}

func TestReloadUnchangedKeepsGeneration(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	before := m.Current(ChannelClient)
	require.Equal(t, uint64(1), m.Status().Generation)

	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.False(t, res.Changed)
	assert.Equal(t, uint64(1), res.Generation)
	assert.Same(t, before, m.Current(ChannelClient), "unchanged material keeps the snapshot (and its ticket keys)")

	// A failure in between is cleared by the next unchanged success.
	f.fail(errors.New("boom"))
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	f.fail(nil)
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.False(t, res.Changed)
	st := m.Status()
	assert.Empty(t, st.LastError)
	assert.Equal(t, uint64(1), st.Generation)
	assert.Equal(t, st.LastAttempt, st.LastSuccess)

	// New material bumps it once.
	f.writeLeaf("server", f.issue(pki.LeafOptions{}))
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, uint64(2), res.Generation)
	assert.Equal(t, uint64(2), m.Current(ChannelClient).Generation)
	assert.Equal(t, uint64(2), m.Current(ChannelCluster).Generation, "cluster falls back to ssl_* and changed too")
}

func TestReloadClockSeam(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	st := m.Status()
	assert.True(t, st.LastAttempt.IsZero())
	assert.True(t, st.LastSuccess.IsZero())
	at := time.Now().Add(time.Minute).Truncate(time.Second)
	m.now = func() time.Time { return at }
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, at, m.Status().LastAttempt)
	assert.Equal(t, at, m.Status().LastSuccess)

	// The clock also drives the validity check.
	m.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	_, err = m.Reload(context.Background())
	require.ErrorContains(t, err, "certificate expired at")
	assert.Equal(t, at, m.Status().LastSuccess)
}

func TestReloadForChannel(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	cluster := m.Current(ChannelCluster)
	f.writeLeaf("server", f.issue(pki.LeafOptions{}))

	res, err := m.Reload(context.Background(), ForChannel(ChannelClient), WithTrigger("sql"))
	require.NoError(t, err)
	assert.Equal(t, []Channel{ChannelClient}, res.Channels)
	assert.True(t, res.Changed)
	assert.Same(t, cluster, m.Current(ChannelCluster), "cluster keeps its snapshot")
	assert.NotEqual(t, cluster.Serial(), m.Current(ChannelClient).Serial())

	res, err = m.Reload(context.Background(), ForChannel(ChannelCluster))
	require.NoError(t, err)
	assert.Equal(t, m.Current(ChannelClient).Serial(), m.Current(ChannelCluster).Serial())
	assert.Equal(t, uint64(3), res.Generation)

	_, err = m.Reload(context.Background(), ForChannel("bogus"))
	require.ErrorContains(t, err, "unknown channel")
}

// TestTornPairRereadSchedule: a pair that stays mismatched is re-read at
// 2 ms, then doubling, within the default 200 ms window, and then fails; a
// fake clock makes the schedule exact instead of timed.
func TestTornPairRereadSchedule(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	var mu sync.Mutex
	clock := time.Now()
	var waits []time.Duration
	m.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	m.pairAfter = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		clock = clock.Add(d)
		c := make(chan time.Time, 1)
		c <- clock
		return c
	}
	f.write("server.crt", f.issue(pki.LeafOptions{}).CertPEM, 0o644) // the old key stays: a pair that never matches
	_, err := m.Reload(context.Background(), ForChannel(ChannelClient))
	require.ErrorContains(t, err, "private key does not match")
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 74 * ms}, waits,
		"short, doubling waits that fill the %v window exactly", 4*defaultPairWait)
	assert.ErrorContains(t, err, "(read 8 times)")
}

func TestReloadTornPairIsRetried(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	// A wide window so a slow -race run cannot turn this into a flake; the
	// writer below finishes well inside it.
	m.pairTries, m.pairWait = 40, 25*time.Millisecond
	var keyReads sync.Map
	m.readFile = func(p string, limit int64) ([]byte, fs.FileMode, error) {
		n, _ := keyReads.LoadOrStore(p, new(int))
		*n.(*int)++
		return readBounded(p, limit)
	}
	next := f.issue(pki.LeafOptions{})

	// The writer replaces the certificate, then the key a little later.
	f.write("server.crt", next.CertPEM, 0o644)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond)
		f.write("server.key", next.KeyPEM, 0o600)
	}()
	res, err := m.Reload(context.Background())
	<-done
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, FormatSerial(next.Cert.SerialNumber), m.Current(ChannelClient).Serial())
	n, _ := keyReads.Load(f.path("server.key"))
	assert.Greater(t, *n.(*int), 1, "the mismatched pair was re-read")
}

func TestReloadConcurrentWithCurrent(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	m.pairWait = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s := m.Current(ChannelClient)
				_ = s.Serial()
				_ = m.Status()
				_ = m.ServerTLSConfig(ChannelClient).GetConfigForClient
			}
		}()
	}
	var rw sync.WaitGroup
	for i := 0; i < 4; i++ {
		rw.Add(1)
		go func() {
			defer rw.Done()
			for j := 0; j < 5; j++ {
				_, err := m.Reload(context.Background())
				assert.NoError(t, err)
			}
		}()
	}
	for j := 0; j < 5; j++ {
		l := f.issue(pki.LeafOptions{})
		// Write via a new pair of names and switch the settings atomically,
		// so concurrent reloads never see a torn pair.
		base := fmt.Sprintf("s%d", j)
		f.writeLeaf(base, l)
		f.set(func(s *Settings) { s.SSLCert, s.SSLKey = f.path(base+".crt"), f.path(base+".key") })
	}
	rw.Wait()
	cancel()
	wg.Wait()
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, f.path("s4.crt"), m.Current(ChannelClient).CertFile)
}

func TestReloadCancelledWhileWaiting(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	m.sem <- struct{}{} // a reload in progress
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Reload(ctx)
	require.ErrorIs(t, err, context.Canceled)
	<-m.sem
	assert.True(t, m.Status().LastAttempt.IsZero(), "never started, so no attempt")
}

func TestKeyFormatsAndPassphrase(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	rsaLeaf := f.issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.RSA2048})
	ecLeaf := f.issue(pki.LeafOptions{})
	ecDER, err := x509.MarshalECPrivateKey(ecLeaf.Key.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	cases := []struct {
		name string
		leaf *pki.Leaf
		key  []byte
		pass string
	}{
		{"PKCS#8", ecLeaf, ecLeaf.KeyPEM, ""},
		{"PKCS#1", rsaLeaf, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaLeaf.Key.(*rsa.PrivateKey))}), ""},
		{"SEC1 EC", ecLeaf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), ""},
		{"legacy encrypted", ecLeaf, pkitest.LegacyEncryptedKey(t, ecLeaf, "pw"), "pw"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.write("server.crt", tc.leaf.CertPEM, 0o644)
			f.write("server.key", tc.key, 0o600)
			f.set(func(s *Settings) { s.SSLKeyPassphrase = tc.pass })
			_, err := m.Reload(context.Background())
			require.NoError(t, err)
			assert.Equal(t, FormatSerial(tc.leaf.Cert.SerialNumber), m.Current(ChannelClient).Serial())
		})
	}
}

func TestCAPathAndWarnings(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	other := pkitest.MustCA(t, "other root")
	hashed := pkitest.MustCA(t, "hashed root")
	require.NoError(t, os.Mkdir(f.path("cas"), 0o755))
	f.write("cas/root.pem", f.ca.CertPEM, 0o644)
	require.NoError(t, os.Symlink("root.pem", f.path("cas/1a2b3c4d.0"))) // c_rehash link: counted once
	f.write("cas/other.crt", other.CertPEM, 0o644)
	f.write("cas/5e6f7a8b.0", hashed.CertPEM, 0o644) // only reachable through its c_rehash name
	f.write("cas/README.txt", []byte("notes"), 0o644)
	f.write("cas/broken.pem", []byte("junk"), 0o644)
	f.write("server.key", mustRead(t, f.path("server.key")), 0o644) // group/other readable
	f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })

	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	snap := m.Current(ChannelClient)
	assert.Equal(t, 3, snap.CACount, "ssl_ca root + other + hashed; the hash link duplicates root")
	joined := strings.Join(res.Warnings, "\n")
	assert.Contains(t, joined, `skipped "README.txt"`)
	assert.Contains(t, joined, `skipped "broken.pem": not a certificate`)
	assert.Contains(t, joined, "readable by others (mode 0644)")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func TestReloadLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	f := newFixture(t)
	m := f.manager(WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))))
	_, err := m.Reload(context.Background(), WithTrigger("signal"))
	require.NoError(t, err)
	f.write("server.crt", []byte("x"), 0o644)
	_, err = m.Reload(context.Background(), WithTrigger("watch"))
	require.Error(t, err)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "result=unchanged channel=client")
	assert.Contains(t, out, "serial="+m.Current(ChannelClient).Serial())
	assert.Contains(t, out, "trigger=signal")
	assert.Contains(t, out, "result=failed")
	assert.Contains(t, out, "trigger=watch")
	assert.Contains(t, out, "not_after=")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestParseChannel(t *testing.T) {
	for in, want := range map[string]Channel{"client": ChannelClient, "CLUSTER": ChannelCluster, "mysql_main": ChannelClient, "MySQL_Admin": ChannelClient} {
		got, err := ParseChannel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseChannel("bogus")
	assert.Error(t, err)
}

func TestParseTLSVersion(t *testing.T) {
	v, err := parseTLSVersion("")
	require.NoError(t, err)
	assert.Equal(t, versionRange{0x0303, 0x0304}, v)
	v, err = parseTLSVersion("TLSv1.3")
	require.NoError(t, err)
	assert.Equal(t, versionRange{0x0304, 0x0304}, v)
	_, err = parseTLSVersion("SSLv3")
	assert.Error(t, err)
}

// TestWarningsOncePerFinding: a finding about a file both channels use is
// one warning naming no channel; a finding about one channel's own file
// names that channel.
func TestWarningsOncePerFinding(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	f.write("server.key", mustRead(t, f.path("server.key")), 0o644)
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Warnings, 1, "%q", res.Warnings)
	assert.True(t, strings.HasPrefix(res.Warnings[0], `channels client, cluster: ssl_key "`), res.Warnings[0])

	f.write("server.key", mustRead(t, f.path("server.key")), 0o600)
	f.writeLeaf("cluster", f.issue(pki.LeafOptions{}))
	f.write("cluster.key", mustRead(t, f.path("cluster.key")), 0o644)
	f.set(func(s *Settings) { s.ClusterSSLCert, s.ClusterSSLKey = f.path("cluster.crt"), f.path("cluster.key") })
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Warnings, 1, "%q", res.Warnings)
	assert.True(t, strings.HasPrefix(res.Warnings[0], `channel cluster: cluster_ssl_key "`), res.Warnings[0])
}

// TestReloadFIFOInCAPathAndDeadline: a FIFO named *.pem in ssl_capath is
// skipped with a warning at once (never opened for a blocking read); a
// reload whose read blocks fails at the deadline of its context with the old
// snapshot kept, and the next reload works.
func TestReloadFIFOInCAPathAndDeadline(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, os.Mkdir(f.path("cas"), 0o755))
	f.write("cas/ca.pem", f.ca.CertPEM, 0o644)
	require.NoError(t, syscall.Mkfifo(f.path("cas/fifo.pem"), 0o644))
	f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
	m := f.manager()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := m.Reload(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, res.Warnings) // one per channel: cluster falls back to ssl_capath
	for _, w := range res.Warnings {
		assert.Contains(t, w, `skipped "fifo.pem": not a regular file (a named pipe (FIFO))`)
	}

	old := m.Current(ChannelClient).Serial()
	f.writeLeaf("server", f.issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}))
	release := make(chan struct{})
	m.readFile = func(p string, limit int64) ([]byte, fs.FileMode, error) {
		if p == f.path("server.key") {
			<-release // a read that hangs (a stuck network filesystem)
		}
		return readBounded(p, limit)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	t0 := time.Now()
	_, err = m.Reload(short)
	took := time.Since(t0)
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "reload", re.Setting)
	assert.Contains(t, re.Reason, "did not finish before its deadline")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, took, 2*time.Second, "the reload returned at its deadline")
	assert.Equal(t, old, m.Current(ChannelClient).Serial(), "old snapshot stays")
	assert.Equal(t, err.Error(), m.Status().LastError)

	// The stuck read returns; its late result is dropped. The stub stays:
	// with release closed it reads through, and replacing it here would
	// race with the abandoned build, which holds the reload slot until it
	// returns (the next Reload waits for that).
	close(release)
	_, err = m.Reload(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, old, m.Current(ChannelClient).Serial(), "the next reload works")
}

package tlsctx

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

func TestIdentityGuard(t *testing.T) {
	base := pki.LeafOptions{CN: "node-a", DNSNames: []string{"node-a.example", "db.example"}, IPs: []net.IP{net.IPv4(10, 0, 0, 1)}}
	cases := []struct {
		name      string
		next      pki.LeafOptions
		allow     bool
		expectErr string
	}{
		{"same names renewed", base, false, ""},
		{"a name added", pki.LeafOptions{CN: "node-a", DNSNames: []string{"node-a.example", "db.example", "new.example"}, IPs: base.IPs}, false, ""},
		{"DNS names compared without case", pki.LeafOptions{CN: "node-a", DNSNames: []string{"NODE-A.example", "db.example"}, IPs: base.IPs}, false, ""},
		{"another node's certificate", pki.LeafOptions{CN: "node-b", DNSNames: []string{"node-b.example", "db.example"}, IPs: []net.IP{net.IPv4(10, 0, 0, 2)}}, false,
			`the new certificate drops DNS name node-a.example; drops IP address 10.0.0.1; subject changes from "CN=node-a,O=ssld" to "CN=node-b,O=ssld"`},
		{"names dropped", pki.LeafOptions{CN: "node-a", DNSNames: []string{"other.example"}, IPs: base.IPs}, false,
			`the new certificate drops DNS names node-a.example, db.example (serial`},
		{"subject alone", pki.LeafOptions{CN: "node-a2", DNSNames: base.DNSNames, IPs: base.IPs}, false,
			`the new certificate subject changes from "CN=node-a,O=ssld" to "CN=node-a2,O=ssld"`},
		{"allowed", pki.LeafOptions{CN: "node-b", DNSNames: []string{"node-b.example"}}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.writeLeaf("server", f.issue(base))
			m := f.manager()
			before := m.Current(ChannelClient)
			l := f.issue(tc.next)
			f.writeLeaf("server", l)
			f.set(func(s *Settings) { s.AllowIdentityChange = tc.allow })

			rep, err := m.Validate(context.Background())
			require.NoError(t, err)
			_, err = m.Reload(context.Background())
			if tc.expectErr == "" {
				require.NoError(t, err)
				require.NoError(t, rep.Err(), "CHECK TLS agrees")
				assert.Equal(t, FormatSerial(l.Cert.SerialNumber), m.Current(ChannelClient).Serial())
				return
			}
			require.ErrorIs(t, err, ErrIdentityChange)
			assert.Contains(t, err.Error(), `channel client: ssl_cert "`+f.path("server.crt")+`": `+tc.expectErr)
			assert.Contains(t, err.Error(), "ssl_allow_identity_change: true")
			assert.Same(t, before, m.Current(ChannelClient), "the old certificate keeps serving")
			require.ErrorIs(t, rep.Err(), ErrIdentityChange, "CHECK TLS reports what the guard would say")
			assert.Equal(t, err.Error(), rep.Err().Error())
		})
	}
}

// TestIdentityGuardFirstLoad: New has nothing to compare with, and a
// degraded start serves no certificate: the first certificate is never
// refused by the guard.
func TestIdentityGuardFirstLoad(t *testing.T) {
	f := newFixture(t)
	f.set(func(s *Settings) { s.SSLCert = f.path("missing.crt") })
	m, err := New(context.Background(), f, WithDegradedStart())
	require.NoError(t, err)
	require.Error(t, m.Unavailable(ChannelClient))
	f.writeLeaf("other", f.issue(pki.LeafOptions{CN: "somebody", DNSNames: []string{"somebody.example"}}))
	f.set(func(s *Settings) { s.SSLCert, s.SSLKey, s.ClusterSSLCA = f.path("other.crt"), f.path("other.key"), "" })
	_, err = m.Reload(context.Background(), ForChannel(ChannelClient))
	require.NoError(t, err)
	assert.Equal(t, "CN=somebody,O=ssld", m.Current(ChannelClient).Subject())
}

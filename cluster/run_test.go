package cluster

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// serve accepts connections on a loopback listener and hands each to fn.
func serve(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	testenv.Serve(t, l, fn)
	return l.Addr().String()
}

// silent accepts TCP and never answers, until the test ends.
func silent(t *testing.T) string {
	return serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func greeting(version string, caps uint16) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0, 1, 0, 0, 0)             // NUL, connection id
	p = append(p, 1, 2, 3, 4, 5, 6, 7, 8, 0) // auth data 1, filler
	p = append(p, byte(caps), byte(caps>>8), 45, 2, 0, 0, 0)
	return packet(0, p)
}

func TestReadGreeting(t *testing.T) {
	tests := []struct {
		name        string
		in          []byte
		version     string
		expectedErr string
	}{
		{"tls offered", greeting("8.0.35-ssld", capSSL|capProtocol41), "8.0.35-ssld", ""},
		{"no tls", greeting("5.7.1", capProtocol41), "5.7.1", "does not offer TLS"},
		{"error packet", packet(0, append([]byte{0xff, 0x10, 0x04, '#', '0', '8', '0', '0', '4'}, "Too many connections"...)), "", "ERROR 1040 (08004): Too many connections"},
		{"not mysql", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "", "bad greeting packet length"},
		{"protocol 9", packet(0, []byte{9, 'x', 0}), "", "unsupported protocol version 9"},
		{"short", greeting("8", capSSL)[:8], "", "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := readGreeting(bytes.NewReader(tc.in))
			if parsedOK(t, err, tc.expectedErr) {
				assert.Equal(t, tc.version, v)
			}
		})
	}
}

func TestSSLRequestPacket(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeSSLRequest(&buf))
	b := buf.Bytes()
	require.Len(t, b, 36)
	assert.Equal(t, []byte{32, 0, 0, 1}, b[:4])
	caps := uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
	assert.NotZero(t, caps&capSSL)
	assert.NotZero(t, caps&capProtocol41)
}

func TestReloadUnreachableAndTimeout(t *testing.T) {
	t.Parallel()
	down, hung := closedAddr(t), silent(t)
	topo := Topology{Leaves: []Node{{Addr: down, Role: RoleLeaf}, {Addr: hung, Role: RoleLeaf}}}
	start := time.Now()
	rs := Reload(context.Background(), topo, Options{User: "u", Timeout: 300 * time.Millisecond, Retries: 1, Backoff: 10 * time.Millisecond, InsecureSkipVerify: true})
	elapsed := time.Since(start)
	require.Len(t, rs, 2)
	assert.Equal(t, StatusUnreachable, rs[0].Status, rs[0].Error)
	assert.Equal(t, 1, rs[0].Retries)
	assert.Contains(t, rs[0].Error, "refused")
	assert.Equal(t, StatusTimeout, rs[1].Status, rs[1].Error)
	assert.Contains(t, rs[1].Error, "greeting")
	assert.Contains(t, rs[1].Error, "(no answer within --timeout 300ms)")
	assert.Contains(t, rs[1].NextStep, "did not answer within --timeout 300ms")
	assert.Contains(t, rs[0].NextStep, "start the node")
	assert.Equal(t, 0, rs[1].Retries, "a timeout is not retried")
	assert.Less(t, elapsed, 2*time.Second, "a hung node costs one timeout")
	assert.GreaterOrEqual(t, rs[1].Duration, 300*time.Millisecond)
}

func TestReloadNoTLS(t *testing.T) {
	t.Parallel()
	addr := serve(t, func(c net.Conn) { c.Write(greeting("5.6.0", capProtocol41)); time.Sleep(time.Second) })
	rs := Reload(context.Background(), Topology{Leaves: []Node{{Addr: addr, Role: RoleLeaf}}}, Options{User: "u", Timeout: time.Second})
	require.Len(t, rs, 1)
	assert.Equal(t, StatusFailed, rs[0].Status)
	assert.Contains(t, rs[0].Error, "does not offer TLS")
}

func TestRollingStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	topo := Topology{
		Aggregators: []Node{{Addr: closedAddr(t), Role: RoleMaster}, {Addr: closedAddr(t), Role: RoleChild}},
		Leaves:      []Node{{Addr: closedAddr(t), Role: RoleLeaf}, {Addr: closedAddr(t), Role: RoleLeaf}},
	}
	var progress []string
	rs := Reload(context.Background(), topo, Options{User: "u", Rolling: true, Timeout: time.Second,
		Progress: func(r NodeResult) { progress = append(progress, r.Addr+" "+string(r.Status)) }})
	require.Len(t, rs, 4)
	assert.Equal(t, StatusUnreachable, rs[0].Status)
	for _, r := range rs[1:] {
		assert.Equal(t, StatusSkipped, r.Status)
		assert.Contains(t, r.Error, "rolling reload stopped at "+rs[0].Addr)
	}
	assert.Equal(t, RoleMaster, rs[3].Role, "master last")
	assert.Len(t, progress, 4)
}

func TestReloadInvalidOptionsAndCancel(t *testing.T) {
	t.Parallel()
	topo := Topology{Leaves: []Node{{Addr: silent(t), Role: RoleLeaf}}}
	rs := Reload(context.Background(), topo, Options{})
	require.Len(t, rs, 1)
	assert.Equal(t, StatusFailed, rs[0].Status)
	assert.Contains(t, rs[0].Error, "a user is required")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs = Reload(ctx, topo, Options{User: "u"})
	assert.Equal(t, StatusSkipped, rs[0].Status)
}

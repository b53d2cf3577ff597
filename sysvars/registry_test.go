package sysvars

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryAddGet(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Add(Var{Name: "Foo_Bar", Value: constant("1")}))
	require.Error(t, r.Add(Var{Name: "foo_bar", Value: constant("2")}), "duplicate, case-insensitive")
	require.Error(t, r.Add(Var{Name: "", Value: constant("2")}))
	require.Error(t, r.Add(Var{Name: "novalue"}))

	v, ok := r.Get("FOO_BAR")
	require.True(t, ok)
	assert.Equal(t, "foo_bar", v.Name, "names are stored lower-case")
	assert.Equal(t, "1", v.Value())
	_, ok = r.Get("nope")
	assert.False(t, ok)
}

func TestRegistryMatch(t *testing.T) {
	r := NewRegistry()
	for _, n := range []string{"ssl_key", "ssl_ca", "cluster_ssl_ca", "version", "ssl_cert"} {
		require.NoError(t, r.Add(Var{Name: n, Value: constant(n)}))
	}
	names := func(vs []Var) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"", []string{"cluster_ssl_ca", "ssl_ca", "ssl_cert", "ssl_key", "version"}},
		{"ssl%", []string{"ssl_ca", "ssl_cert", "ssl_key"}},
		{"%SSL_CA", []string{"cluster_ssl_ca", "ssl_ca"}},
		{"ssl_c_", []string{"ssl_ca"}}, // "_" is exactly one character
		{`ssl\_ca`, []string{"ssl_ca"}},
		{"nothing%", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			assert.Equal(t, tc.want, names(r.Match(tc.pattern)))
		})
	}
}

func TestAddServer(t *testing.T) {
	r := NewRegistry()
	info := ServerInfo{Version: "8.0.36-ssld", VersionComment: "ssld", Role: "leaf", Port: 3307,
		RequireSecureTransport: true, MaxConnections: 151}
	require.NoError(t, AddServer(r, info))
	require.Error(t, AddServer(r, info), "second call collides")

	tests := []struct {
		name     string
		value    string
		kind     Kind
		scope    Scope
		readOnly bool
	}{
		{"version", "8.0.36-ssld", KindString, ScopeGlobal, true},
		{"version_comment", "ssld", KindString, ScopeGlobal, true},
		{"port", "3307", KindInt, ScopeGlobal, true},
		{"role", "leaf", KindString, ScopeGlobal, true},
		{"require_secure_transport", "ON", KindBool, ScopeGlobal, true},
		{"autocommit", "ON", KindBool, ScopeBoth, false},
		{"max_allowed_packet", "524288", KindInt, ScopeBoth, false},
		{"character_set_client", "utf8mb4", KindString, ScopeBoth, false},
		{"transaction_isolation", "REPEATABLE-READ", KindString, ScopeBoth, false},
		{"lower_case_table_names", "0", KindInt, ScopeGlobal, true},
		{"sql_select_limit", "18446744073709551615", KindInt, ScopeBoth, false},
		{"max_connections", "151", KindInt, ScopeGlobal, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := r.Get(tc.name)
			require.True(t, ok)
			assert.Equal(t, tc.value, v.Value())
			assert.Equal(t, tc.kind, v.Kind)
			assert.Equal(t, tc.scope, v.Scope)
			assert.Equal(t, tc.readOnly, v.ReadOnly)
		})
	}
}

func TestAddServerLimitsAndBoundPort(t *testing.T) {
	r := NewRegistry()
	bound := 0
	require.NoError(t, AddServer(r, ServerInfo{Version: "v", Port: 0, MaxConnections: 20,
		BoundPort: func() int { return bound }}))
	get := func(name string) string {
		v, ok := r.Get(name)
		require.True(t, ok, name)
		return v.Value()
	}
	assert.Equal(t, "20", get("max_connections"))
	assert.Equal(t, "0", get("port"), "not bound yet: the configured port")
	bound = 40123
	assert.Equal(t, "40123", get("port"), "the port the listener picked")
}

func TestRegistryConcurrentReads(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, AddServer(r, ServerInfo{Version: "v"}))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				for _, v := range r.Match("%") {
					_ = v.Value()
				}
				_, _ = r.Get("version")
			}
		}()
	}
	wg.Wait()
}

package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTopology(t *testing.T) {
	tests := []struct {
		name        string
		doc         string
		expected    Topology
		expectedErr string
	}{
		{
			name: "strings; first aggregator is master",
			doc:  "aggregators: [10.0.0.1:3307, 10.0.0.4:3307]\nleaves: [10.0.0.2:3307, 10.0.0.3]\n",
			expected: Topology{
				Aggregators: []Node{{"10.0.0.1:3307", RoleMaster, DialectAuto, ""}, {"10.0.0.4:3307", RoleChild, DialectAuto, ""}},
				Leaves:      []Node{{"10.0.0.2:3307", RoleLeaf, DialectAuto, ""}, {"10.0.0.3:3306", RoleLeaf, DialectAuto, ""}},
			},
		},
		{
			name: "mappings, marked master, per-node and default dialect",
			doc: `dialect: ssld
aggregators:
  - 10.0.0.1:3307
  - {address: "db4:3306", dialect: MariaDB, master: true}
leaves:
  - {host: "::1", port: 3310, dialect: mysql}
  - host: leaf2
  - {address: "leaf3:3306", state: Offline}
`,
			expected: Topology{
				Aggregators: []Node{{"10.0.0.1:3307", RoleChild, DialectSSLD, ""}, {"db4:3306", RoleMaster, DialectMariaDB, ""}},
				Leaves:      []Node{{"[::1]:3310", RoleLeaf, DialectMySQL, ""}, {"leaf2:3306", RoleLeaf, DialectSSLD, ""}, {"leaf3:3306", RoleLeaf, DialectSSLD, "offline"}},
			},
		},
		{
			name:     "leaves only",
			doc:      "leaves: [a:1]\n",
			expected: Topology{Leaves: []Node{{"a:1", RoleLeaf, DialectAuto, ""}}},
		},
		{name: "empty", doc: "aggregators: []\n", expectedErr: "no nodes"},
		{name: "duplicate", doc: "aggregators: [a:1]\nleaves: [a:1]\n", expectedErr: "listed twice"},
		{name: "two masters", doc: "aggregators: [{address: a:1, master: true}, {address: b:1, master: true}]\n", expectedErr: "more than one"},
		{name: "leaf master", doc: "leaves: [{address: a:1, master: true}]\n", expectedErr: "leaf cannot be the master"},
		{name: "bad dialect", doc: "leaves: [{address: a:1, dialect: oracle}]\n", expectedErr: `unknown dialect "oracle"`},
		{name: "bad port", doc: "leaves: [a:99999]\n", expectedErr: "port in 1..65535"},
		{name: "unknown key", doc: "aggregator: [a:1]\n", expectedErr: "cannot parse"},
		{name: "not yaml", doc: "aggregators: [\n", expectedErr: "cannot parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTopology([]byte(tc.doc))
			if parsedOK(t, err, tc.expectedErr) {
				assert.Equal(t, tc.expected, got)
			}
		})
	}
}

func TestPlanOrder(t *testing.T) {
	topo := Topology{
		Aggregators: []Node{{Addr: "m:1", Role: RoleMaster}, {Addr: "c1:1", Role: RoleChild}, {Addr: "c2:1", Role: RoleChild}},
		Leaves:      []Node{{Addr: "l1:1", Role: RoleLeaf}, {Addr: "l2:1", Role: RoleLeaf}},
	}
	addrs := func(ns []Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Addr)
		}
		return out
	}
	assert.Equal(t, []string{"l1:1", "l2:1", "c1:1", "c2:1", "m:1"}, addrs(topo.Plan(ScopeAll)))
	assert.Equal(t, []string{"l1:1", "l2:1", "c1:1", "c2:1", "m:1"}, addrs(topo.Plan(ScopeCluster)))
	assert.Equal(t, []string{"c1:1", "c2:1", "m:1"}, addrs(topo.Plan(ScopeClient)))
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"": ScopeAll, "ALL": ScopeAll, "client": ScopeClient, "cluster": ScopeCluster} {
		got, err := ParseScope(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseScope("leaves")
	assert.ErrorContains(t, err, "unknown scope")
}

func TestDetectDialect(t *testing.T) {
	tests := []struct {
		name, version, comment string
		expected               Dialect
		statement              string
	}{
		{"ssld", "8.0.35-ssld", "ssld TLS reload daemon", DialectSSLD, "SSL_RELOAD"},
		{"mariadb", "10.11.6-MariaDB-0+deb12u1", "Debian 12", DialectMariaDB, "FLUSH SSL"},
		{"mariadb greeting", "5.5.5-11.4.2-MariaDB", "", DialectMariaDB, "FLUSH SSL"},
		{"singlestore", "8.0.32", "SingleStoreDB source distribution (compatible; MySQL Enterprise & MySQL Commercial)", DialectSingleStore, "SSL_RELOAD"},
		{"memsql", "5.5.58", "MemSQL source distribution", DialectSingleStore, "SSL_RELOAD"},
		{"mysql", "8.0.36", "MySQL Community Server - GPL", DialectMySQL, "ALTER INSTANCE RELOAD TLS"},
		{"unknown", "", "", DialectMySQL, "ALTER INSTANCE RELOAD TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DetectDialect(tc.version, tc.comment)
			assert.Equal(t, tc.expected, d)
			assert.Equal(t, tc.statement, d.ReloadStatement())
		})
	}
	assert.Equal(t, "", DialectAuto.ReloadStatement())
}

func TestParseDialect(t *testing.T) {
	for in, want := range map[string]Dialect{"": DialectAuto, "Auto": DialectAuto, "ssld": DialectSSLD,
		"memsql": DialectSingleStore, "SingleStore": DialectSingleStore, "mysql": DialectMySQL, "MARIADB": DialectMariaDB} {
		got, err := ParseDialect(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseDialect("postgres")
	assert.ErrorContains(t, err, "unknown dialect")
}

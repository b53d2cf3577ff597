package cluster

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in          string
		expected    Shard
		expectedErr string
	}{
		{"0/4", Shard{0, 4}, ""},
		{" 3 / 4 ", Shard{3, 4}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"4/4", Shard{}, "want 0..3"},
		{"-1/4", Shard{}, "want 0..3"},
		{"0/0", Shard{}, "want 1 or more"},
		{"1", Shard{}, "want I/N"},
		{"a/b", Shard{}, "want I/N"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseShard(tc.in)
			if parsedOK(t, err, tc.expectedErr) {
				assert.Equal(t, tc.expected, s)
			}
		})
	}
}

// TestShardsDisjointComplete: for several shard counts, every node of a
// 1,000-node fleet is in exactly one shard, the slices are reasonably even,
// the order inside each slice is the plan's, and the slice does not depend
// on the order the nodes were listed in.
func TestShardsDisjointComplete(t *testing.T) {
	var topo, reversed Topology
	for i := 0; i < 1000; i++ {
		n := Node{Addr: fmt.Sprintf("10.%d.%d.%d:3306", i/65536, i/256%256, i%256), Role: RoleLeaf}
		if i < 10 {
			n.Role = RoleChild
			topo.Aggregators = append(topo.Aggregators, n)
			continue
		}
		topo.Leaves = append(topo.Leaves, n)
	}
	topo.Aggregators[0].Role = RoleMaster
	for i := len(topo.Leaves) - 1; i >= 0; i-- {
		reversed.Leaves = append(reversed.Leaves, topo.Leaves[i])
	}
	reversed.Aggregators = topo.Aggregators
	plan := topo.Plan(ScopeAll)
	for _, count := range []int{1, 2, 3, 7, 16} {
		seen := map[string]int{}
		for i := 0; i < count; i++ {
			sh := Shard{i, count}
			part := selectPlan(plan, nil, sh)
			for _, n := range part {
				seen[n.Addr]++
			}
			// Plan order kept: leaves, children, master.
			for j := 1; j < len(part); j++ {
				assert.LessOrEqual(t, rank(part[j-1].Role), rank(part[j].Role))
			}
			if count > 1 {
				assert.InDelta(t, len(plan)/count, len(part), float64(len(plan)/count)/3, "shard %v is lopsided", sh)
			}
			other := map[string]bool{}
			for _, n := range selectPlan(reversed.Plan(ScopeAll), nil, sh) {
				other[n.Addr] = true
			}
			assert.Len(t, other, len(part))
			for _, n := range part {
				assert.True(t, other[n.Addr], "listing order changed the slice")
			}
		}
		require.Len(t, seen, len(plan), "complete for %d shards", count)
		for addr, k := range seen {
			require.Equal(t, 1, k, "%s in %d shards of %d", addr, k, count)
		}
	}
	// Stable across releases (a Job's pods may run different builds):
	// pinned values of FNV-1a 64 modulo N.
	for _, tc := range []struct {
		addr     string
		of8, of5 int
	}{{"10.0.0.1:3306", 5, 0}, {"10.0.0.2:3307", 5, 1}, {"db1.example:3306", 0, 4}} {
		assert.Equal(t, tc.of8, ShardOf(tc.addr, 8), tc.addr)
		assert.Equal(t, tc.of5, ShardOf(tc.addr, 5), tc.addr)
	}
	assert.Equal(t, ShardOf("DB1:3306", 5), ShardOf("db1:3306", 5))
	assert.Equal(t, ShardOf("db1", 5), ShardOf("db1:3306", 5), "default port")
}

func rank(r Role) int {
	switch r {
	case RoleLeaf:
		return 0
	case RoleChild:
		return 1
	}
	return 2
}

func TestParseRolesAndSelect(t *testing.T) {
	rs, err := ParseRoles("leaves")
	require.NoError(t, err)
	assert.Equal(t, []Role{RoleLeaf}, rs)
	rs, err = ParseRoles("aggregators,leaf")
	require.NoError(t, err)
	assert.Equal(t, []Role{RoleChild, RoleMaster, RoleLeaf}, rs)
	_, err = ParseRoles("leaf,boss")
	assert.ErrorContains(t, err, `unknown role "boss"`)

	topo := fakeFleet(3, 2)
	plan := selectPlan(topo.Plan(ScopeAll), []Role{RoleChild, RoleMaster}, Shard{})
	require.Len(t, plan, 3)
	assert.Equal(t, RoleMaster, plan[2].Role)
}

package cluster

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard selects a deterministic slice of a topology: node n belongs to
// shard Index of Count when ShardOf(n.Addr, Count) == Index. The slices of
// 0..Count-1 are disjoint and together hold every node, whatever order the
// node list comes in (a pod that discovers the cluster a moment later gets
// the same slice). The zero value selects everything.
type Shard struct {
	Index, Count int
}

// All reports whether s selects every node.
func (s Shard) All() bool { return s.Count <= 1 }

// String is "I/N", or "" for the whole topology.
func (s Shard) String() string {
	if s.All() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard parses "I/N" with 0 <= I < N.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q: want I/N, e.g. 0/4", v)
	}
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%q: want I/N, e.g. 0/4", v)
	}
	return NewShard(idx, cnt)
}

// NewShard checks 0 <= index < count and count >= 1.
func NewShard(index, count int) (Shard, error) {
	switch {
	case count < 1:
		return Shard{}, fmt.Errorf("shard count %d: want 1 or more", count)
	case index < 0 || index >= count:
		return Shard{}, fmt.Errorf("shard index %d: want 0..%d", index, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// ShardOf is the shard of addr among count: FNV-1a (64-bit) of the
// normalised host:port, modulo count. It is part of the contract: the same
// address lands in the same shard in every release.
func ShardOf(addr string, count int) int {
	if count <= 1 {
		return 0
	}
	if a, err := normalizeAddr(addr); err == nil {
		addr = a
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(addr)))
	return int(h.Sum64() % uint64(count))
}

// Has reports whether addr is in s.
func (s Shard) Has(addr string) bool {
	return s.All() || ShardOf(addr, s.Count) == s.Index
}

// ParseRoles parses a comma-separated list of leaf, child, master (also
// leaves, children, aggregators = child+master); "" or "all" is every role.
func ParseRoles(v string) ([]Role, error) {
	var out []Role
	seen := map[Role]bool{}
	add := func(r Role) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "", "all":
			add(RoleLeaf)
			add(RoleChild)
			add(RoleMaster)
		case "leaf", "leaves":
			add(RoleLeaf)
		case "child", "children":
			add(RoleChild)
		case "master":
			add(RoleMaster)
		case "aggregator", "aggregators":
			add(RoleChild)
			add(RoleMaster)
		default:
			return nil, fmt.Errorf("unknown role %q (want leaf, child, master, aggregators or all)", strings.TrimSpace(p))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no roles")
	}
	return out, nil
}

// selectPlan keeps the nodes of plan that have one of roles (nil = all)
// and are in shard, in plan order.
func selectPlan(plan []Node, roles []Role, shard Shard) []Node {
	if len(roles) == 0 && shard.All() {
		return plan
	}
	var out []Node
	for _, n := range plan {
		if len(roles) > 0 && !hasRole(roles, n.Role) {
			continue
		}
		if !shard.Has(n.Addr) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func hasRole(roles []Role, r Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

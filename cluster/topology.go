package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Role is a node's place in the cluster, which decides when it is reloaded.
type Role string

const (
	// RoleMaster is the master aggregator; it is reloaded last.
	RoleMaster Role = "master"
	// RoleChild is a child aggregator; reloaded after the leaves.
	RoleChild Role = "child"
	// RoleLeaf is a leaf; leaves are reloaded first.
	RoleLeaf Role = "leaf"
)

// Node is one member of a topology.
type Node struct {
	// Addr is host:port of the node's MySQL-protocol listener.
	Addr string
	Role Role
	// Dialect is the node's dialect; "" or DialectAuto means detect it.
	Dialect Dialect
	// State is what the cluster says about the node (SHOW LEAVES /
	// SHOW AGGREGATORS State, or state: in a topology file); "" means
	// online. Nodes that are not online are skipped, not contacted.
	State string
}

// Online reports whether a node state means "work on it": "" or online
// (any case). SingleStore's other states (offline, detached, attaching,
// unknown, ...) all mean the node is not serving as a member right now.
func Online(state string) bool {
	s := strings.ToLower(strings.TrimSpace(state))
	return s == "" || s == "online"
}

// Topology is the set of nodes of one cluster. Exactly one aggregator has
// RoleMaster; the others are RoleChild, and every leaf is RoleLeaf.
// A Topology is a plain value: safe to share once built.
type Topology struct {
	Aggregators []Node
	Leaves      []Node
}

// Scope selects the nodes a run touches.
type Scope string

const (
	// ScopeAll is every node (the default).
	ScopeAll Scope = "all"
	// ScopeClient is the aggregators only: the nodes that serve clients.
	ScopeClient Scope = "client"
	// ScopeCluster is every node: intra-cluster TLS lives on all of them.
	ScopeCluster Scope = "cluster"
)

// ParseScope accepts client, cluster and all ("" = all).
func ParseScope(s string) (Scope, error) {
	return parseName(s, "scope", "client, cluster or all", scopeNames)
}

var scopeNames = map[string]Scope{"": ScopeAll, "all": ScopeAll, "client": ScopeClient, "cluster": ScopeCluster}

// parseName looks s up among names (case-insensitive, surrounding spaces
// trimmed); the error says what was parsed and which values it accepts.
func parseName[T ~string](s, what, want string, names map[string]T) (T, error) {
	if v, ok := names[strings.ToLower(strings.TrimSpace(s))]; ok {
		return v, nil
	}
	return "", fmt.Errorf("unknown %s %q (want %s)", what, s, want)
}

// Plan returns the nodes of scope in the order they are reloaded: leaves,
// then child aggregators, then the master aggregator last. The order within
// each group is the topology's.
func (t Topology) Plan(scope Scope) []Node {
	var out []Node
	if scope != ScopeClient {
		out = append(out, t.Leaves...)
	}
	var master []Node
	for _, a := range t.Aggregators {
		if a.Role == RoleMaster {
			master = append(master, a)
		} else {
			out = append(out, a)
		}
	}
	return append(out, master...)
}

// topologyFile is the YAML shape of a topology file. Each entry is either a
// "host:port" string or a mapping (see nodeEntry).
type topologyFile struct {
	Dialect     string      `yaml:"dialect"`
	Aggregators []nodeEntry `yaml:"aggregators"`
	Leaves      []nodeEntry `yaml:"leaves"`
}

type nodeEntry struct {
	Addr    string `yaml:"address"`
	Host    string `yaml:"host"`
	Port    int    `yaml:"port"`
	Dialect string `yaml:"dialect"`
	Master  bool   `yaml:"master"`
	State   string `yaml:"state"`
}

// UnmarshalYAML accepts a plain "host:port" scalar as well as a mapping.
func (e *nodeEntry) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		e.Addr = v.Value
		return nil
	}
	type plain nodeEntry
	var p plain
	if err := v.Decode(&p); err != nil {
		return err
	}
	*e = nodeEntry(p)
	return nil
}

// LoadTopology reads a topology file (see ParseTopology).
func LoadTopology(path string) (Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Topology{}, fmt.Errorf("topology: %w", err)
	}
	t, err := ParseTopology(b)
	if err != nil {
		return Topology{}, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

// ParseTopology parses a topology document:
//
//	dialect: auto                 # default for every node (optional)
//	aggregators:
//	  - 10.0.0.1:3307             # the first aggregator is the master ...
//	  - {address: 10.0.0.4:3306, dialect: mariadb, master: true}  # ... unless one is marked
//	leaves:
//	  - 10.0.0.2:3307
//	  - {host: 10.0.0.3, port: 3306, dialect: mysql}
//
// A port-less address gets 3306. It fails on unknown keys, unknown
// dialects, duplicate addresses, more than one master, or no nodes.
func ParseTopology(doc []byte) (Topology, error) {
	var f topologyFile
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Topology{}, fmt.Errorf("cannot parse: %w", err)
	}
	def, err := ParseDialect(f.Dialect)
	if err != nil {
		return Topology{}, err
	}
	var t Topology
	seen := map[string]bool{}
	masters := 0
	conv := func(e nodeEntry, role Role) (Node, error) {
		addr := e.Addr
		if addr == "" && e.Host != "" {
			port := e.Port
			if port == 0 {
				port = DefaultPort
			}
			addr = net.JoinHostPort(e.Host, strconv.Itoa(port))
		}
		addr, err := normalizeAddr(addr)
		if err != nil {
			return Node{}, err
		}
		if seen[addr] {
			return Node{}, fmt.Errorf("node %s listed twice", addr)
		}
		seen[addr] = true
		d := def
		if e.Dialect != "" {
			if d, err = ParseDialect(e.Dialect); err != nil {
				return Node{}, fmt.Errorf("node %s: %w", addr, err)
			}
		}
		if e.Master {
			if role == RoleLeaf {
				return Node{}, fmt.Errorf("node %s: a leaf cannot be the master", addr)
			}
			role = RoleMaster
			masters++
		}
		return Node{Addr: addr, Role: role, Dialect: d, State: strings.ToLower(strings.TrimSpace(e.State))}, nil
	}
	for _, e := range f.Aggregators {
		n, err := conv(e, RoleChild)
		if err != nil {
			return Topology{}, err
		}
		t.Aggregators = append(t.Aggregators, n)
	}
	for _, e := range f.Leaves {
		n, err := conv(e, RoleLeaf)
		if err != nil {
			return Topology{}, err
		}
		t.Leaves = append(t.Leaves, n)
	}
	switch {
	case masters > 1:
		return Topology{}, errors.New("more than one aggregator is marked master")
	case masters == 0 && len(t.Aggregators) > 0:
		t.Aggregators[0].Role = RoleMaster
	}
	if len(t.Aggregators)+len(t.Leaves) == 0 {
		return Topology{}, errors.New("no nodes: list aggregators and/or leaves")
	}
	return t, nil
}

// DefaultPort is the port of a node address that names none: MySQL's.
const DefaultPort = 3306

// normalizeAddr checks host:port and supplies DefaultPort.
func normalizeAddr(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty node address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: "db1" or a bare IPv6 literal.
		if strings.Count(addr, ":") == 0 || (strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[")) {
			return net.JoinHostPort(strings.Trim(addr, "[]"), strconv.Itoa(DefaultPort)), nil
		}
		return "", fmt.Errorf("node address %q: %v", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || host == "" {
		return "", fmt.Errorf("node address %q: want host:port with a port in 1..65535", addr)
	}
	return net.JoinHostPort(host, port), nil
}

package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Discover asks the master aggregator at master (host:port) for the cluster
// with SHOW AGGREGATORS and SHOW LEAVES, as SingleStore answers them and
// ssld answers them from its `cluster:` config. It uses opts for
// credentials, TLS, timeout and retries. Columns are found by name (Host,
// Port, State, and Master_Aggregator or Role), case-insensitively; the
// other columns of SingleStore's output (Availability_Group, Pair_Host,
// Pair_Port, Opened_Connections, ...) are not needed. A node whose State is
// not online is kept in the topology and skipped by the run.
//
// The master is the row marked master (Master_Aggregator = 1 or Role =
// master), listed at the address the operator gave, since that is where it
// was reached; failing that, the row at that address; failing that, the
// given address is added as the master. Discovered nodes get opts.Dialect.
func Discover(ctx context.Context, master string, opts Options) (Topology, error) {
	if err := opts.Validate(); err != nil {
		return Topology{}, err
	}
	master, err := normalizeAddr(master)
	if err != nil {
		return Topology{}, err
	}
	o := opts.withDefaults()
	r := &runner{opts: o, tv: o.verifier()}
	var conn *sqlConn
	var scratch NodeResult
	err = r.retry(ctx, &scratch, func() (err error) {
		conn, err = connect(ctx, master, o.User, o.Password, o.Timeout, r.tv)
		return err
	})
	if err != nil {
		_, msg, _ := classify(err)
		return Topology{}, fmt.Errorf("discover from %s: %s", master, msg)
	}
	defer conn.Close()

	var t Topology
	d := nodeDialect(Node{}, o.Dialect)
	seen := map[string]bool{}
	haveMaster := false
	add := func(stmt string, leaf bool) error {
		cols, rows, err := conn.query(ctx, stmt, discoveryLimit)
		if err != nil {
			_, msg, _ := classify(err)
			return fmt.Errorf("discover from %s: %s: %s", master, stmt, msg)
		}
		hostI, portI, masterI, roleI, stateI := -1, -1, -1, -1, -1
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "host":
				hostI = i
			case "port":
				portI = i
			case "master_aggregator":
				masterI = i
			case "role":
				roleI = i
			case "state":
				stateI = i
			}
		}
		if hostI < 0 || portI < 0 {
			return fmt.Errorf("discover from %s: %s has no Host and Port columns (got %v)", master, stmt, cols)
		}
		for _, row := range rows {
			addr, err := normalizeAddr(net.JoinHostPort(row[hostI], row[portI]))
			if err != nil {
				return fmt.Errorf("discover from %s: %s: %v", master, stmt, err)
			}
			n := Node{Addr: addr, Role: RoleLeaf, Dialect: d}
			if stateI >= 0 {
				n.State = strings.ToLower(strings.TrimSpace(row[stateI]))
			}
			if !leaf {
				n.Role = RoleChild
				isMaster := (masterI >= 0 && truthy(row[masterI])) ||
					(roleI >= 0 && isMasterRole(row[roleI]))
				if isMaster && !haveMaster {
					// Reached at the given address: it is online, whatever
					// the row says.
					n.Role, n.Addr, n.State, haveMaster = RoleMaster, master, "", true
				}
			}
			if seen[n.Addr] {
				continue
			}
			seen[n.Addr] = true
			if leaf {
				t.Leaves = append(t.Leaves, n)
			} else {
				t.Aggregators = append(t.Aggregators, n)
			}
		}
		return nil
	}
	if err := add("SHOW AGGREGATORS", false); err != nil {
		return Topology{}, err
	}
	if err := add("SHOW LEAVES", true); err != nil {
		return Topology{}, err
	}
	if !haveMaster {
		found := false
		for i := range t.Aggregators {
			if t.Aggregators[i].Addr == master {
				t.Aggregators[i].Role, t.Aggregators[i].State, found = RoleMaster, "", true
			}
		}
		if !found {
			t.Aggregators = append([]Node{{Addr: master, Role: RoleMaster, Dialect: d}}, t.Aggregators...)
		}
	}
	return t, nil
}

// isMasterRole reads SHOW AGGREGATORS' Role column: SingleStore says
// "Leader" for the master aggregator (older releases "Master").
func isMasterRole(role string) bool {
	r := strings.ToLower(role)
	return strings.Contains(r, "master") || strings.Contains(r, "leader")
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}

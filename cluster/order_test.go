package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// span is when a fake node's work started and ended.
type span struct {
	role       Role
	start, end time.Time
}

// fakeFleet is n leaves, c child aggregators and a master.
func fakeFleet(leaves, children int) Topology {
	t := Topology{Aggregators: []Node{{Addr: "10.0.1.1:3306", Role: RoleMaster}}}
	for i := 0; i < children; i++ {
		t.Aggregators = append(t.Aggregators, Node{Addr: fmt.Sprintf("10.0.2.%d:3306", i+1), Role: RoleChild})
	}
	for i := 0; i < leaves; i++ {
		t.Leaves = append(t.Leaves, Node{Addr: fmt.Sprintf("10.0.3.%d:3306", i+1), Role: RoleLeaf})
	}
	return t
}

// TestParallelPhases: in parallel mode every leaf finishes before the first
// child aggregator starts, and every child before the master, even when
// leaves are slow and the pool has room for everything.
func TestParallelPhases(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var spans []span
	work := func(_ context.Context, n Node) NodeResult {
		s := span{role: n.Role, start: time.Now()}
		d := 2 * time.Millisecond
		if n.Role == RoleLeaf && n.Addr == "10.0.3.1:3306" {
			d = 80 * time.Millisecond // one slow leaf
		}
		time.Sleep(d)
		s.end = time.Now()
		mu.Lock()
		spans = append(spans, s)
		mu.Unlock()
		return NodeResult{Addr: n.Addr, Role: n.Role, Status: StatusOK}
	}
	rs := runWith(context.Background(), fakeFleet(6, 3), Options{User: "u", Parallel: 64}, false, work)
	require.Len(t, rs, 10)
	require.Len(t, spans, 10)
	last := map[Role]time.Time{}
	first := map[Role]time.Time{}
	for _, s := range spans {
		if s.end.After(last[s.role]) {
			last[s.role] = s.end
		}
		if f, ok := first[s.role]; !ok || s.start.Before(f) {
			first[s.role] = s.start
		}
	}
	assert.False(t, first[RoleChild].Before(last[RoleLeaf]), "a child started before the last leaf finished")
	assert.False(t, first[RoleMaster].Before(last[RoleChild]), "the master started before the last child finished")
	assert.Equal(t, RoleMaster, rs[9].Role)
}

// TestMaxFailures: after N failures no new node starts; the rest are
// skipped with the reason, across phases.
func TestMaxFailures(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	started := 0
	work := func(_ context.Context, n Node) NodeResult {
		mu.Lock()
		started++
		mu.Unlock()
		return NodeResult{Addr: n.Addr, Role: n.Role, Status: StatusUnreachable}
	}
	rs := runWith(context.Background(), fakeFleet(5, 2), Options{User: "u", Parallel: 1, MaxFailures: 2}, false, work)
	require.Len(t, rs, 8)
	assert.Equal(t, 2, started)
	for _, r := range rs[2:] {
		assert.Equal(t, StatusSkipped, r.Status, r.Addr)
		assert.Contains(t, r.Error, "--max-failures 2 reached (2 failed, the first 10.0.3.1:3306 (unreachable))")
	}
	assert.Equal(t, 1, ExitCode(rs))

	// Rolling is --max-failures 1 by default; a larger limit keeps going.
	started = 0
	rs = runWith(context.Background(), fakeFleet(5, 2), Options{User: "u", Rolling: true}, false, work)
	assert.Equal(t, 1, started)
	assert.Contains(t, rs[1].Error, "rolling reload stopped at 10.0.3.1:3306 (unreachable)")
	started = 0
	runWith(context.Background(), fakeFleet(5, 2), Options{User: "u", Rolling: true, MaxFailures: 3}, false, work)
	assert.Equal(t, 3, started)

	// Status runs read every node.
	started = 0
	runWith(context.Background(), fakeFleet(5, 2), Options{User: "u", MaxFailures: 1}, true, work)
	assert.Equal(t, 8, started)
}

// TestOfflineSkipped: nodes the cluster reports offline or detached are
// skipped with their state, never contacted, and do not fail the run.
func TestOfflineSkipped(t *testing.T) {
	t.Parallel()
	topo := fakeFleet(3, 1)
	topo.Leaves[1].State = "offline"
	topo.Aggregators[1].State = "detached"
	var mu sync.Mutex
	contacted := map[string]bool{}
	work := func(_ context.Context, n Node) NodeResult {
		mu.Lock()
		contacted[n.Addr] = true
		mu.Unlock()
		return NodeResult{Addr: n.Addr, Role: n.Role, Status: StatusOK}
	}
	rs := runWith(context.Background(), topo, Options{User: "u", MaxFailures: 1}, false, work)
	require.Len(t, rs, 5)
	byAddr := map[string]NodeResult{}
	for _, r := range rs {
		byAddr[r.Addr] = r
	}
	off := byAddr[topo.Leaves[1].Addr]
	assert.Equal(t, StatusSkipped, off.Status)
	assert.Equal(t, "offline", off.State)
	assert.Contains(t, off.Error, "the cluster reports this node offline")
	assert.False(t, off.Failed())
	assert.Equal(t, "detached", byAddr[topo.Aggregators[1].Addr].State)
	assert.False(t, contacted[topo.Leaves[1].Addr])
	assert.False(t, contacted[topo.Aggregators[1].Addr])
	assert.Len(t, contacted, 3)
	assert.Equal(t, 0, ExitCode(rs), "offline nodes are not failures")
	assert.Equal(t, 1, ExitCode(append(rs, NodeResult{Status: StatusSkipped, Error: "rolling stopped"})))
}

// TestPhaseStops: by default a leaf that is not ok stops the run before
// any aggregator is contacted, and a child aggregator that is not ok keeps
// the master untouched; the skipped rows say why and what to do. With
// ContinueOnError every node is worked on (the behaviour before). Status
// and dry runs change nothing and read every node.
func TestPhaseStops(t *testing.T) {
	t.Parallel()
	bad := map[string]Outcome{"10.0.3.1:3306": StatusFailed, "10.0.3.3:3306": StatusUnreachable}
	var mu sync.Mutex
	var contacted []string
	work := func(_ context.Context, n Node) NodeResult {
		mu.Lock()
		contacted = append(contacted, n.Addr)
		mu.Unlock()
		st := StatusOK
		if s, ok := bad[n.Addr]; ok {
			st = s
		}
		return NodeResult{Addr: n.Addr, Role: n.Role, Status: st}
	}
	topo := fakeFleet(4, 2)
	topo.Leaves = append(topo.Leaves, Node{Addr: "10.0.3.9:3306", Role: RoleLeaf, State: "offline"})
	rs := runWith(context.Background(), topo, Options{User: "u", Parallel: 4}, false, work)
	require.Len(t, rs, 8)
	assert.Len(t, contacted, 4, "only the leaves: %v", contacted)
	for _, r := range rs[5:] {
		assert.Equal(t, StatusSkipped, r.Status, r.Addr)
		assert.Equal(t, "not attempted: 2 leaves failed (10.0.3.1:3306 failed, 10.0.3.3:3306 unreachable)", r.Error)
		assert.Contains(t, r.NextStep, "--continue-on-error")
	}
	assert.Equal(t, RoleMaster, rs[7].Role)
	for _, r := range rs {
		if r.Status != StatusOK {
			assert.NotEmpty(t, r.NextStep, "%s %s has no next step", r.Addr, r.Status)
		}
	}

	// A bad child aggregator keeps the master untouched.
	bad = map[string]Outcome{"10.0.2.2:3306": StatusStale}
	contacted = nil
	rs = runWith(context.Background(), fakeFleet(2, 2), Options{User: "u"}, false, work)
	assert.NotContains(t, contacted, "10.0.1.1:3306")
	assert.Equal(t, StatusSkipped, rs[4].Status)
	assert.Equal(t, "not attempted: 1 child aggregator failed (10.0.2.2:3306 stale)", rs[4].Error)
	assert.Equal(t, StatusOK, rs[2].Status, "the other child aggregator of the phase still ran")

	// An offline leaf alone does not stop the run.
	bad = map[string]Outcome{}
	contacted = nil
	rs = runWith(context.Background(), topo, Options{User: "u"}, false, work)
	assert.Equal(t, 0, ExitCode(rs))
	assert.Len(t, contacted, 7)

	// --continue-on-error, status and dry runs go through every node.
	bad = map[string]Outcome{"10.0.3.1:3306": StatusFailed}
	for name, run := range map[string]func() []NodeResult{
		"continue": func() []NodeResult {
			return runWith(context.Background(), fakeFleet(2, 1), Options{User: "u", ContinueOnError: true}, false, work)
		},
		"status": func() []NodeResult {
			return runWith(context.Background(), fakeFleet(2, 1), Options{User: "u"}, true, work)
		},
		"dry run": func() []NodeResult {
			return runWith(context.Background(), fakeFleet(2, 1), Options{User: "u", DryRun: true}, false, work)
		},
	} {
		contacted = nil
		rs := run()
		assert.Len(t, contacted, 4, name)
		assert.Equal(t, StatusOK, rs[3].Status, name)
	}

	// --max-failures and --rolling keep their own reason when they stopped first.
	bad = map[string]Outcome{"10.0.3.1:3306": StatusFailed}
	rs = runWith(context.Background(), fakeFleet(3, 1), Options{User: "u", Rolling: true}, false, work)
	assert.Contains(t, rs[4].Error, "rolling reload stopped at 10.0.3.1:3306 (failed)")
}

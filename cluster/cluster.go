// Package cluster reloads TLS certificates across a cluster of
// MySQL-protocol nodes (ssld, SingleStore, MySQL, MariaDB) and proves, node
// by node, that each one now serves the new certificate.
//
// For every node, Reload reads the certificate served on a fresh,
// non-resumed TLS handshake, connects with go-sql-driver/mysql, runs the
// reload statement of the node's dialect, and reads the served certificate
// again on another fresh handshake. One NodeResult per node says what
// happened. Leaves go first, then child aggregators, then the master
// aggregator, and a phase with a node that is not ok stops the run before
// the next one (Options.ContinueOnError goes on); Options chooses bounded
// parallelism or a rolling run that stops at the first failure.
//
// It is a library first: an embedding server calls Reload or Status; the
// `ssld cluster` command only parses flags and formats the results.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultParallel = 16
	DefaultTimeout  = 10 * time.Second
	DefaultBackoff  = 250 * time.Millisecond
	maxBackoff      = 5 * time.Second
)

// Options control a run. The zero value is usable apart from User. A run
// only reads its Options; one value may serve concurrent runs.
type Options struct {
	User     string
	Password string // never printed, logged or put in an error

	// RootCAs verify the certificate chain each node serves. With RootCAs
	// nil the system roots are used and the certificate must also name the
	// host or IP the node was reached at. With RootCAs set, the name is
	// checked only with VerifyIdentity, as with mysql --ssl-mode=VERIFY_CA
	// vs. VERIFY_IDENTITY. A node whose certificate does not verify is
	// failed without a login attempt.
	RootCAs        *x509.CertPool
	VerifyIdentity bool
	// InsecureSkipVerify turns verification off (still TLS); every row then
	// has Verified false.
	InsecureSkipVerify bool
	Certificates       []tls.Certificate // client certificate for mutual TLS

	Scope Scope // default ScopeAll
	// Roles keeps only nodes of these roles (nil = all), and Shard only
	// the nodes of one shard (zero = all): see Shard. Together they split a
	// fleet across workers (docs/cluster.md, "Sharded runs").
	Roles []Role
	Shard Shard
	// Dialect is used for nodes whose topology entry has none ("" = auto).
	Dialect Dialect

	// Parallel bounds how many nodes are worked on at once (default
	// DefaultParallel). Rolling works on one node at a time and stops at the
	// first node that is not ok or unchanged; the rest are skipped. Either
	// way the roles go in phases: all leaves finish before the first child
	// aggregator starts, all child aggregators before the master.
	Parallel int
	Rolling  bool
	// MaxFailures stops starting new nodes once that many have failed
	// (0 = no limit; rolling defaults to 1); the rest are skipped. Nodes in
	// flight finish. Status runs ignore it.
	MaxFailures int
	// ContinueOnError lets a reload go on to the next phase after a node
	// of this one failed. By default a leaf that is not ok (failed, stale,
	// timeout, unreachable, ...) stops the run before any aggregator is
	// reloaded, and a child aggregator that is not ok keeps the master
	// untouched: those nodes are skipped with the reason. Status and dry
	// runs change nothing and always read every node.
	ContinueOnError bool

	// Timeout bounds each step with a node: dial + greeting + TLS handshake,
	// connect + authenticate, and each query (default DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times a step that failed in a way that may pass
	// (refused, reset, too many connections) is tried again, with
	// exponential backoff from Backoff (default DefaultBackoff). Timeouts
	// are not retried: a hung node costs one Timeout, not several.
	Retries int
	Backoff time.Duration

	// ExpectSerial (hex, any case, colons allowed) and ExpectFingerprint
	// (SHA-256 hex of the leaf DER) make a node that serves anything else
	// after its reload stale. Either may list several values separated by
	// commas (a node serving an ECDSA and an RSA certificate): then every
	// certificate a node serves must be one of them, and each of them
	// must be served.
	ExpectSerial      string
	ExpectFingerprint string
	// ExpectIssuer (a DN: "CN=ca2,O=Example" or "/CN=ca2/O=Example") is the
	// issuer the served leaf must have: every attribute given must be in the
	// leaf's issuer (order and case do not matter; attributes not given are
	// not compared). The proof of the second phase of a CA rotation.
	ExpectIssuer string
	// MinValidity is how long, from now, the served leaf must stay valid.
	MinValidity time.Duration
	// RequireChange makes a node that serves the same leaf (SHA-256) after
	// its reload as before it stale instead of unchanged: the proof that a
	// renewed certificate was really loaded, for any mix of certificates.
	RequireChange bool
	// RequireCurrent makes a node stale unless it serves exactly what its
	// own files hold now, channel by channel: on an ssld node the
	// fingerprint CHECK TLS reports for each channel's files must be the one
	// SHOW SSL STATUS reports served, and for the client channel the one a
	// fresh handshake gets. Dialects without CHECK TLS (MySQL, MariaDB,
	// SingleStore) cannot show their files: a reload that succeeded in this
	// run is the proof there (the statement loaded the files, and a fresh
	// handshake after it reads what is served), and a status run says
	// unproven instead of ok. Unlike RequireChange it holds on any rerun.
	RequireCurrent bool
	// Every failed check above makes the node stale, with every reason in
	// its row; the checks compose.

	// DryRun connects, authenticates and reads what each node serves, and
	// reloads nothing.
	DryRun bool

	// Progress, when set, is called with each node's result as soon as it
	// is final, from the goroutine that worked on the node: in parallel
	// runs it is called concurrently and must be safe for that.
	Progress func(NodeResult)
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.User == "":
		return errors.New("a user is required")
	case o.Parallel < 0:
		return errors.New("parallel must be 1 or more")
	case o.Timeout < 0:
		return errors.New("timeout must be positive")
	case o.Retries < 0:
		return errors.New("retries must be 0 or more")
	case o.MaxFailures < 0:
		return errors.New("max failures must be 0 or more")
	case o.MinValidity < 0:
		return errors.New("min validity must be positive")
	}
	if o.ExpectIssuer != "" {
		if _, err := parseDN(o.ExpectIssuer); err != nil {
			return fmt.Errorf("expect issuer %w", err)
		}
	}
	if !o.Shard.All() {
		if _, err := NewShard(o.Shard.Index, o.Shard.Count); err != nil {
			return err
		}
	}
	if _, err := ParseScope(string(o.Scope)); err != nil {
		return err
	}
	if _, err := ParseDialect(string(o.Dialect)); err != nil {
		return err
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Parallel == 0 {
		o.Parallel = DefaultParallel
	}
	if o.Rolling {
		o.Parallel = 1
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Scope == "" {
		o.Scope = ScopeAll
	}
	var serials, fps []string
	for _, v := range splitList(o.ExpectSerial) {
		serials = append(serials, normalizeHex(v, true))
	}
	for _, v := range splitList(o.ExpectFingerprint) {
		fps = append(fps, strings.ToLower(normalizeHex(v, false)))
	}
	o.ExpectSerial, o.ExpectFingerprint = strings.Join(serials, ","), strings.Join(fps, ",")
	return o
}

func normalizeHex(s string, trimZeros bool) string {
	s = strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	s = strings.TrimPrefix(s, "0X")
	if trimZeros {
		s = strings.TrimLeft(s, "0")
		if s == "" && trimZeros {
			return ""
		}
	}
	return s
}

// Reload reloads every node of topo in scope and verifies what each one
// serves afterwards. It returns one result per node in plan order (leaves,
// child aggregators, master), never fails as a whole, and is safe for
// concurrent use. Invalid options make every row failed. Cancelling ctx
// stops the run: nodes not yet started are skipped.
func Reload(ctx context.Context, topo Topology, opts Options) []NodeResult {
	return run(ctx, topo, opts, false)
}

// Status reads what every node of topo in scope serves and reloads
// nothing: the same rows as Reload, with Before filled. A node is stale
// when it reports a loaded fingerprint (ssld) other than the one served, or
// what it serves does not match ExpectSerial/ExpectFingerprint.
func Status(ctx context.Context, topo Topology, opts Options) []NodeResult {
	return run(ctx, topo, opts, true)
}

func run(ctx context.Context, topo Topology, opts Options, readOnly bool) []NodeResult {
	return runWith(ctx, topo, opts, readOnly, nil)
}

// runWith is run with the per-node work replaced (tests of the ordering
// and failure policy); nil means the real conversation with the node.
func runWith(ctx context.Context, topo Topology, opts Options, readOnly bool, work func(context.Context, Node) NodeResult) []NodeResult {
	plan := topo.Plan(opts.Scope)
	if opts.Scope == "" {
		plan = topo.Plan(ScopeAll)
	}
	plan = selectPlan(plan, opts.Roles, opts.Shard)
	results := make([]NodeResult, len(plan))
	for i, n := range plan {
		results[i] = NodeResult{Addr: n.Addr, Role: n.Role, Dialect: nodeDialect(n, opts.Dialect)}
	}
	if err := opts.Validate(); err != nil {
		for i := range results {
			results[i].Status, results[i].Error = StatusFailed, "invalid options: "+err.Error()
		}
		return results
	}
	r := &runner{opts: opts.withDefaults(), readOnly: readOnly, now: time.Now}
	r.expectIssuer, _ = parseDN(opts.ExpectIssuer)
	if opts.ExpectIssuer == "" {
		r.expectIssuer = nil
	}
	r.tv = opts.verifier()
	done := func(i int, res NodeResult) {
		res.Error = boundText(res.Error, 4*maxNodeText)
		if res.Status == StatusTimeout && !strings.Contains(res.Error, "--timeout") {
			res.Error += fmt.Sprintf(" (no answer within --timeout %s)", r.opts.Timeout)
		}
		res.NextStep = r.nextStep(res)
		results[i] = res
		if r.opts.Progress != nil {
			r.opts.Progress(res)
		}
	}

	r.work = r.node
	if work != nil {
		r.work = work
	}
	return r.phases(ctx, plan, results, done)
}

// phases works on plan one role at a time: every leaf finishes before the
// first child aggregator starts, and every child aggregator before the
// master. Within a phase, nodes go through a pool of opts.Parallel (1 when
// rolling). After MaxFailures nodes failed (1 when rolling and not set),
// no new node starts: the rest are skipped. Nodes whose discovered state
// is not online are skipped without being contacted.
func (r *runner) phases(ctx context.Context, plan []Node, results []NodeResult, done func(int, NodeResult)) []NodeResult {
	limit := r.opts.MaxFailures
	if r.opts.Rolling && limit == 0 {
		limit = 1
	}
	if r.readOnly {
		limit = 0 // status reads everything
	}
	st := &failState{limit: limit, rolling: r.opts.Rolling}
	stopping := !r.readOnly && !r.opts.DryRun && !r.opts.ContinueOnError
	for from := 0; from < len(plan); {
		to := from
		for to < len(plan) && plan[to].Role == plan[from].Role {
			to++
		}
		r.pool(ctx, plan, from, to, results, done, st)
		if why := phaseFailures(results[from:to]); stopping && why != "" {
			if stop := st.stop(); stop != "" {
				why = stop // --rolling or --max-failures said it first
			} else if ctx.Err() != nil {
				why = "not attempted: cancelled"
			} else {
				why = "not attempted: " + why
			}
			for i := to; i < len(plan); i++ {
				res := results[i]
				res.State = plan[i].State
				res.Status, res.Error = StatusSkipped, why
				done(i, res)
			}
			return results
		}
		from = to
	}
	return results
}

// phaseFailures says which nodes of one phase were not ok ("2 leaves
// failed (10.0.3.1:3306 failed, 10.0.3.2:3306 unreachable)"), or "" when
// none was. Nodes skipped because the cluster reports them offline do not
// count (see NodeResult.Failed).
func phaseFailures(rs []NodeResult) string {
	var bad []string
	n, skipped := 0, 0
	for _, r := range rs {
		switch {
		case !r.Failed():
			continue
		case r.Status == StatusSkipped:
			skipped++
			continue
		}
		n++
		if len(bad) < 3 {
			bad = append(bad, r.Addr+" "+string(r.Status))
		}
	}
	if n == 0 && skipped == 0 {
		return ""
	}
	if n == 0 {
		verb := "were"
		if skipped == 1 {
			verb = "was"
		}
		return fmt.Sprintf("%d %s %s not attempted", skipped, roleNoun(rs[0].Role, skipped), verb)
	}
	if n > len(bad) {
		bad = append(bad, fmt.Sprintf("and %d more", n-len(bad)))
	}
	return fmt.Sprintf("%d %s failed (%s)", n, roleNoun(rs[0].Role, n), strings.Join(bad, ", "))
}

// roleNoun names n nodes of role.
func roleNoun(role Role, n int) string {
	what := map[Role][2]string{RoleLeaf: {"leaf", "leaves"}, RoleChild: {"child aggregator", "child aggregators"},
		RoleMaster: {"master", "masters"}}[role]
	if n == 1 {
		return what[0]
	}
	return what[1]
}

// failState counts failures across the phases of one run.
type failState struct {
	mu      sync.Mutex
	limit   int // 0 = no limit
	rolling bool
	count   int
	first   string // address and status of the first failure
}

func (f *failState) record(res NodeResult) {
	if !res.Failed() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.first == "" {
		f.first = fmt.Sprintf("%s (%s)", res.Addr, res.Status)
	}
}

// stop says why no new node may start, or "".
func (f *failState) stop() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.limit == 0 || f.count < f.limit:
		return ""
	case f.rolling && f.limit == 1:
		return "not attempted: rolling reload stopped at " + f.first
	}
	return fmt.Sprintf("not attempted: --max-failures %d reached (%d failed, the first %s)", f.limit, f.count, f.first)
}

func nodeDialect(n Node, def Dialect) Dialect {
	if n.Dialect != "" {
		return n.Dialect
	}
	if def != "" {
		return def
	}
	return DialectAuto
}

type runner struct {
	work         func(context.Context, Node) NodeResult // r.node, or a test's (runWith)
	opts         Options
	tv           *tlsVerifier
	readOnly     bool
	now          func() time.Time
	expectIssuer []rdn // parsed ExpectIssuer; nil when not set
}

// pool works on plan[from:to] with at most opts.Parallel goroutines.
func (r *runner) pool(ctx context.Context, plan []Node, from, to int, results []NodeResult, done func(int, NodeResult), st *failState) {
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		if !Online(plan[i].State) {
			res := results[i]
			res.State = plan[i].State
			res.Status, res.Error = StatusSkipped, "not attempted: the cluster reports this node "+plan[i].State
			done(i, res)
			continue
		}
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		why := st.stop()
		if ctx.Err() != nil {
			why = "not attempted: cancelled"
		}
		if why != "" {
			if acquired {
				<-sem
			}
			res := results[i]
			res.Status, res.Error = StatusSkipped, why
			done(i, res)
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res := r.work(ctx, plan[i])
			res.State = plan[i].State
			st.record(res)
			done(i, res)
		}(i)
	}
	wg.Wait()
}

// node works on one node and never panics or blocks past its timeouts.
func (r *runner) node(ctx context.Context, n Node) (res NodeResult) {
	start := time.Now()
	res = NodeResult{Addr: n.Addr, Role: n.Role, Dialect: nodeDialect(n, r.opts.Dialect)}
	defer func() { res.Duration = time.Since(start) }()
	fail := func(err error) NodeResult {
		res.Status, res.Error, _ = classify(err)
		return res
	}

	// 1. What does a new client get now?
	var greetingVersion string
	var beforeLeaf *x509.Certificate
	err := r.retry(ctx, &res, func() error {
		leaf, v, err := probe(ctx, n.Addr, r.opts.Timeout, r.tv)
		if leaf != nil {
			beforeLeaf = leaf
			res.Before, res.BeforeAll = ServedBy(leaf), []Served{ServedBy(leaf)}
		}
		greetingVersion = v
		return err
	})
	if err != nil {
		return fail(err)
	}
	res.Verified = !r.opts.InsecureSkipVerify

	// 2. Log in (TLS, verified like the probe).
	var conn *sqlConn
	err = r.retry(ctx, &res, func() (err error) {
		conn, err = connect(ctx, n.Addr, r.opts.User, r.opts.Password, r.opts.Timeout, r.tv)
		return err
	})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()

	// 3. Which dialect? ssld and MariaDB say so in their greeting, which
	// saves a round trip; others need @@version_comment (SingleStore
	// announces a MySQL version).
	if d := DetectDialect(greetingVersion, ""); res.Dialect == DialectAuto && (d == DialectSSLD || d == DialectMariaDB) {
		res.Dialect = d
	}
	if res.Dialect == DialectAuto {
		version, comment := greetingVersion, ""
		if _, rows, err := conn.query(ctx, "SELECT @@version, @@version_comment", nodeStateLimit); err == nil && len(rows) == 1 && len(rows[0]) == 2 {
			version, comment = rows[0][0], rows[0][1]
		} else if err != nil && isTimeout(err) {
			return fail(&stepError{"SELECT @@version", err})
		}
		res.Dialect = DetectDialect(version, comment)
	}
	res.Statement = res.Dialect.ReloadStatement()
	// An ssld node says what it serves: the fingerprint of the first
	// certificate (ssl_server_fingerprint) and every certificate
	// (ssl_server_certificates). A node serving several gets a second
	// probe, an RSA-only hello, before and after the reload.
	declared := 0
	readServed := func() (map[string]string, error) {
		vars, err := conn.variables(ctx, "ssl_server_fingerprint", "ssl_server_certificates")
		if err != nil {
			return nil, &stepError{"SHOW GLOBAL VARIABLES", err}
		}
		declared = countCertificates(vars["ssl_server_certificates"])
		return vars, nil
	}
	takeReported := func(vars map[string]string) error {
		fp := strings.ToLower(vars["ssl_server_fingerprint"])
		if fp != "" && !hexFingerprint.MatchString(fp) {
			return errors.New("SHOW GLOBAL VARIABLES: malformed answer: ssl_server_fingerprint is not 64 hex digits")
		}
		res.Reported = fp
		return nil
	}
	reported := func() error {
		if res.Dialect != DialectSSLD {
			return nil
		}
		vars, err := readServed()
		if err != nil {
			return err
		}
		return takeReported(vars)
	}
	// more adds, to all, the certificate an RSA-only client gets, when the
	// node declares several.
	more := func(all *[]Served, first *x509.Certificate) error {
		if declared < 2 {
			return nil
		}
		err := r.retry(ctx, &res, func() error {
			leaf, err := probeRSAOnly(ctx, n.Addr, r.opts.Timeout, r.tv, first)
			if leaf != nil && !servesFingerprint(*all, ServedBy(leaf).Fingerprint) {
				*all = append(*all, ServedBy(leaf))
			}
			return err
		})
		var ve *verifyError
		if errors.As(err, &ve) {
			ve.afterLogin = true // the login happened, against the first certificate
		}
		return err
	}
	var varsBefore map[string]string
	if res.Dialect == DialectSSLD {
		if varsBefore, err = readServed(); err != nil {
			return fail(err)
		}
		if err := more(&res.BeforeAll, beforeLeaf); err != nil {
			return fail(err)
		}
	}

	// Pre-flight: an ssld node validates its files without swapping.
	if r.opts.DryRun && !r.readOnly && res.Dialect == DialectSSLD {
		return r.preflight(ctx, conn, res)
	}

	// Read-only: status and dry runs of other dialects stop here.
	if r.readOnly || r.opts.DryRun {
		if res.Dialect == DialectSSLD {
			if err := takeReported(varsBefore); err != nil {
				return fail(err)
			}
		}
		res.Status = StatusOK
		var why []string
		if res.Reported != "" && !servesFingerprint(res.BeforeAll, res.Reported) {
			why = append(why, fmt.Sprintf("node reports it loaded %s but serves %s", short(res.Reported), short(res.Before.Fingerprint)))
		}
		if r.readOnly {
			why = append(why, r.proofFailures(res.BeforeAll, nil)...)
			if r.opts.RequireCurrent && res.Dialect == DialectSSLD {
				stale, err := r.currentProof(ctx, conn, &res, res.BeforeAll)
				if err != nil {
					return fail(err)
				}
				why = append(why, stale...)
			}
		}
		switch {
		case len(why) > 0:
			res.Status, res.Error = StatusStale, strings.Join(why, "; ")
		case r.readOnly && r.opts.RequireCurrent && res.Dialect != DialectSSLD:
			res.Status = StatusUnproven
			res.Error = fmt.Sprintf("--require-current: a %s node cannot show over SQL what its files hold (no CHECK TLS), "+
				"so nothing proves it serves them; only a reload in the same run proves it", res.Dialect)
		}
		return res
	}

	// 4. Reload.
	if err := conn.exec(ctx, res.Statement); err != nil {
		res = fail(&stepError{res.Statement, err})
		// Show what is served now (the old certificate, normally).
		if leaf, _, perr := probe(ctx, n.Addr, r.opts.Timeout, r.tv); perr == nil && leaf != nil {
			res.After = ServedBy(leaf)
		}
		return res
	}
	if err := reported(); err != nil {
		return fail(err)
	}
	if !(r.opts.RequireCurrent && res.Dialect == DialectSSLD) {
		// Free the node's connection slot while the proof handshake runs;
		// --require-current still needs the session afterwards.
		conn.Close()
		conn = nil
	}

	// 5. What does a new client get now?
	var afterLeaf *x509.Certificate
	err = r.retry(ctx, &res, func() error {
		leaf, _, err := probe(ctx, n.Addr, r.opts.Timeout, r.tv)
		if leaf != nil {
			afterLeaf = leaf
			res.After, res.AfterAll = ServedBy(leaf), []Served{ServedBy(leaf)}
		}
		return err
	})
	if err == nil {
		err = more(&res.AfterAll, afterLeaf)
	}
	after, afterAll := res.After, res.AfterAll
	if err != nil {
		var ve *verifyError
		if errors.As(err, &ve) {
			ve.afterLogin = true
		}
		return fail(&stepError{"verify after reload", err})
	}
	var why []string
	if res.Reported != "" && !servesFingerprint(afterAll, res.Reported) {
		why = append(why, fmt.Sprintf("reload said OK and the node reports it loaded %s, but a new handshake still gets %s (serial %s)",
			short(res.Reported), short(after.Fingerprint), after.Serial))
	}
	why = append(why, r.proofFailures(afterAll, res.BeforeAll)...)
	if conn != nil {
		// --require-current on ssld: the files, each channel's served
		// certificate and the handshake agree. (Other dialects: the
		// reload statement that just succeeded loaded the files, and the
		// handshake above read what is served.)
		stale, err := r.currentProof(ctx, conn, &res, afterAll)
		if err != nil {
			return fail(err)
		}
		why = append(why, stale...)
	}
	switch {
	case len(why) > 0:
		res.Status, res.Error = StatusStale, strings.Join(why, "; ")
	case sameFingerprints(afterAll, res.BeforeAll):
		res.Status = StatusUnchanged
	default:
		res.Status = StatusOK
	}
	return res
}

// countCertificates is how many certificates @@ssl_server_certificates
// lists (a JSON array); 0 when it is empty, absent (an older ssld) or not
// such an array.
func countCertificates(v string) int {
	var list []json.RawMessage
	if v == "" || json.Unmarshal([]byte(v), &list) != nil {
		return 0
	}
	return len(list)
}

// servesFingerprint reports whether fp is among the certificates of all.
func servesFingerprint(all []Served, fp string) bool {
	for _, s := range all {
		if s.Fingerprint == fp {
			return true
		}
	}
	return false
}

// sameFingerprints reports whether a and b are the same certificates in
// the same order.
func sameFingerprints(a, b []Served) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Fingerprint != b[i].Fingerprint {
			return false
		}
	}
	return true
}

// retry runs step, and again after a backoff while it fails in a way that
// may pass, at most opts.Retries more times.
func (r *runner) retry(ctx context.Context, res *NodeResult, step func() error) error {
	for attempt := 0; ; attempt++ {
		err := step()
		if err == nil {
			return nil
		}
		if _, _, retryable := classify(err); !retryable || attempt >= r.opts.Retries {
			return err
		}
		d := r.opts.Backoff << attempt
		if d > maxBackoff || d <= 0 {
			d = maxBackoff
		}
		d = d/2 + rand.N(d/2+1) // jitter: a fleet does not retry in lockstep
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		res.Retries++
	}
}

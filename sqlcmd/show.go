package sqlcmd

import (
	"cmp"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

var nameValueColumns = []Column{{Name: "Variable_name"}, {Name: "Value"}}

// match applies f to one name/value row.
func (f Filter) match(name, value string) bool {
	subject := name
	if strings.EqualFold(f.Column, "Value") {
		subject = value
	}
	var ok bool
	switch f.Kind {
	case FilterNone:
		return true
	case FilterLike:
		ok = len(f.Patterns) > 0 && sysvars.Like(f.Patterns[0], subject)
	case FilterEqual, FilterIn:
		for _, p := range f.Patterns {
			if strings.EqualFold(p, subject) {
				ok = true
				break
			}
		}
	}
	return ok != f.Negate
}

// showVariables lists variables with their values. SESSION (the default)
// shows session overrides; GLOBAL omits session-only variables and ignores
// overrides.
func (x *Executor) showVariables(s *Session, c ShowVariables) (*Result, *Error) {
	res := &Result{Columns: nameValueColumns, Rows: [][]any{}}
	pattern := ""
	if c.Filter.Kind == FilterLike && !c.Filter.Negate && !strings.EqualFold(c.Filter.Column, "Value") && len(c.Filter.Patterns) == 1 {
		pattern = c.Filter.Patterns[0]
		if pattern == "" {
			return res, nil // LIKE '' matches nothing
		}
	}
	for _, v := range x.env.Vars.Match(pattern) {
		if c.Global && v.Scope == sysvars.ScopeSession {
			continue
		}
		val := v.Value()
		if !c.Global {
			if o, ok := sessionValueOf(s, v); ok {
				val = o
			}
		}
		if c.Filter.match(v.Name, val) {
			res.Rows = append(res.Rows, []any{v.Name, val})
		}
	}
	return res, nil
}

// statusTimeFormat is how MySQL (OpenSSL's ASN1_TIME_print) renders
// Ssl_server_not_before/after, kept so that existing scripts parse them.
const statusTimeFormat = "Jan _2 15:04:05 2006 GMT"

// showStatus lists status variables. Ssl_cipher and Ssl_version describe
// this session's connection (empty without TLS and under GLOBAL);
// Ssl_server_not_* describe the certificate this session's handshake got
// (MariaDB), or, without TLS and under GLOBAL, the live client-channel
// snapshot (MySQL 8's global value); Current_tls_* describe the live
// snapshot.
func (x *Executor) showStatus(s *Session, c ShowStatus) (*Result, *Error) {
	var rows [][2]string
	add := func(name, value string) { rows = append(rows, [2]string{name, value}) }

	cipher, version := "", ""
	if !c.Global && s.TLS != nil {
		cipher = tlsctx.OpenSSLCipherName(s.TLS.CipherSuite)
		version = tlsVersionName(s.TLS.Version)
	}
	add("Ssl_cipher", cipher)
	add("Ssl_version", version)

	var snap *tlsctx.Snapshot
	if x.env.Certs != nil {
		snap = x.env.Certs.Current(tlsctx.ChannelClient)
	}
	// The certificate this session's handshake got, as MariaDB reports
	// its dates: after a reload an open session still shows its own, and
	// on a channel serving several (ECDSA and RSA) the one chosen for this
	// client. Without TLS and under GLOBAL: the first certificate of the
	// live client channel.
	var served *x509.Certificate
	switch {
	case !c.Global && s.ServerCert != nil:
		served = s.ServerCert
	case snap.Enabled():
		served = snap.Leaf
	}
	notBefore, notAfter, serial, fingerprint, keyType := "", "", "", "", ""
	if served != nil {
		notBefore = served.NotBefore.UTC().Format(statusTimeFormat)
		notAfter = served.NotAfter.UTC().Format(statusTimeFormat)
		serial = tlsctx.FormatSerial(served.SerialNumber)
		sum := sha256.Sum256(served.Raw)
		fingerprint = hex.EncodeToString(sum[:])
		keyType = tlsctx.KeyType(served)
	}
	add("Ssl_server_not_before", notBefore)
	add("Ssl_server_not_after", notAfter)
	add("Ssl_server_serial", serial)
	add("Ssl_server_fingerprint", fingerprint)
	add("Ssl_server_key_type", keyType)
	for name, value := range x.currentTLS(snap) {
		add(name, value)
	}
	uptime := int64(0)
	if !x.env.Started.IsZero() {
		uptime = int64(x.now().Sub(x.env.Started) / time.Second)
	}
	add("Uptime", strconv.FormatInt(uptime, 10))
	if x.env.ThreadsConnected != nil {
		add("Threads_connected", strconv.Itoa(x.env.ThreadsConnected()))
	}
	if x.env.Processes != nil {
		add("Questions", strconv.FormatUint(x.env.Processes.Questions(), 10))
		if ac, ok := x.env.Processes.(TLSAcceptCounter); ok {
			accepts, finished := ac.SSLAccepts(tlsctx.ChannelClient)
			add("Ssl_accepts", strconv.FormatUint(accepts, 10))
			add("Ssl_finished_accepts", strconv.FormatUint(finished, 10))
		}
		if pc, ok := x.env.Processes.(PanicCounter); ok {
			add("Ssld_recovered_panics", strconv.FormatInt(pc.RecoveredPanics(), 10))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return strings.ToLower(rows[i][0]) < strings.ToLower(rows[j][0]) })

	res := &Result{Columns: nameValueColumns, Rows: [][]any{}}
	for _, r := range rows {
		if c.Filter.match(r[0], r[1]) {
			res.Rows = append(res.Rows, []any{r[0], r[1]})
		}
	}
	return res, nil
}

// currentTLS is MySQL 8's nine Current_tls_* values of the channel whose
// live snapshot is snap (the client channel's are status variables): what
// is in use, where @@ssl_cert and the other setting variables show what is
// configured. The policy values are the snapshot's (ssl_cipher and
// tls_ciphersuites empty when unset, as MySQL reports them), the CRL ones
// its ssl_crl and ssl_crlpath.
func (x *Executor) currentTLS(snap *tlsctx.Snapshot) map[string]string {
	out := map[string]string{
		"Current_tls_cert": "", "Current_tls_key": "", "Current_tls_ca": "", "Current_tls_capath": "",
		"Current_tls_cipher": "", "Current_tls_ciphersuites": "", "Current_tls_crl": "", "Current_tls_crlpath": "",
		"Current_tls_version": "",
	}
	if snap != nil {
		out["Current_tls_cert"], out["Current_tls_key"] = snap.CertFile, snap.KeyFile
		out["Current_tls_ca"], out["Current_tls_capath"] = snap.CAFile, snap.CAPath
		out["Current_tls_crl"], out["Current_tls_crlpath"] = snap.CRLFile, snap.CRLPath
		out["Current_tls_cipher"], out["Current_tls_ciphersuites"] = snap.Policy.Ciphers, snap.Policy.CipherSuites
		if snap.Policy.Versions != "" {
			out["Current_tls_version"] = snap.Policy.Versions
			return out
		}
	}
	if st, ok := x.env.Certs.(interface{ Status() tlsctx.Status }); ok {
		out["Current_tls_version"] = cmp.Or(st.Status().Settings.TLSVersion, tlsctx.DefaultTLSVersion)
	} else if v, ok := x.env.Vars.Get("tls_version"); ok {
		out["Current_tls_version"] = v.Value()
	}
	return out
}

// tlsVersionName renders a TLS version the way MySQL's Ssl_version does.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return tls.VersionName(v)
}

// showSSLStatus returns one row per certificate of each channel
// describing the live snapshot: a channel serving an ECDSA and an RSA
// certificate has two rows, Position 1 and 2, each with its own
// Cert_file. Certificate columns are NULL for a channel with TLS off (one
// row). Position, Key_type and Key_backend come after Not_after so that
// the columns before them and the trailing Last_reload_trigger keep their
// places.
func (x *Executor) showSSLStatus() *Result {
	res := &Result{
		Columns: []Column{
			{Name: "Channel"}, {Name: "Generation", Int: true}, {Name: "Cert_file"}, {Name: "Subject"},
			{Name: "SANs"}, {Name: "Serial"}, {Name: "Fingerprint_SHA256"}, {Name: "Not_before"},
			{Name: "Not_after"}, {Name: "Position", Int: true}, {Name: "Key_type"}, {Name: "Key_backend"},
			{Name: "CA_count", Int: true}, {Name: "CRL_count", Int: true}, {Name: "CRL_next_update"},
			{Name: "CA_overlap"}, {Name: "Loaded_at"}, {Name: "Last_reload_trigger"},
		},
		Rows: [][]any{},
	}
	if x.env.Certs == nil {
		return res
	}
	// The trigger is the Manager's (one per reload, all channels); Certs
	// fakes in tests may not have it.
	trigger := ""
	if st, ok := x.env.Certs.(interface{ Status() tlsctx.Status }); ok {
		trigger = st.Status().LastTrigger
	}
	for _, ch := range []tlsctx.Channel{tlsctx.ChannelClient, tlsctx.ChannelCluster} {
		snap := x.env.Certs.Current(ch)
		if snap == nil {
			continue
		}
		// The CRLs applied (ssl_crl, ssl_crlpath) and the earliest
		// nextUpdate among them: past it, a CRL is stale.
		next, _ := snap.CRLNextUpdate()
		// CAs removed from the CA set that stay trusted for their
		// ssl_ca_overlap window: "subject until time", earliest first.
		var overlap []string
		for _, o := range snap.Overlap() {
			overlap = append(overlap, o.Subject+" until "+sysvars.FormatTime(o.Until))
		}
		tail := []any{int64(snap.CACount), int64(len(snap.CRLs())), nullIfEmpty(sysvars.FormatTime(next)),
			nullIfEmpty(strings.Join(overlap, "; ")), nullIfEmpty(sysvars.FormatTime(snap.LoadedAt)), nullIfEmpty(trigger)}
		certs := snap.Served()
		if len(certs) == 0 {
			row := []any{string(ch), snap.Generation, nullIfEmpty(snap.CertFile), nil, nil, nil, nil, nil, nil, nil, nil, nil}
			res.Rows = append(res.Rows, append(row, tail...))
			continue
		}
		for _, c := range certs {
			row := []any{string(ch), snap.Generation, nullIfEmpty(c.CertFile), c.Leaf.Subject.String(),
				strings.Join(c.SANs(), ","), c.Serial(), c.Fingerprint(),
				sysvars.FormatTime(c.Leaf.NotBefore), sysvars.FormatTime(c.Leaf.NotAfter),
				int64(c.Position), c.KeyType(), nullIfEmpty(string(c.KeyBackend))}
			res.Rows = append(res.Rows, append(row, tail...))
		}
	}
	return res
}

// showSSLHistory is SHOW SSL HISTORY: the Manager's History, newest
// first, one row per channel of each load (a load that failed before any
// served channel was chosen has one row with a NULL channel). Old and new
// serial and fingerprint are equal when nothing was swapped; the CA
// columns list the subjects added to or removed from the CA set, joined
// with "; ". Every value is bounded by tlsctx.
func (x *Executor) showSSLHistory() *Result {
	res := &Result{
		Columns: []Column{
			{Name: "Time"}, {Name: "Trigger"}, {Name: "Channel"}, {Name: "Result"}, {Name: "Error"},
			{Name: "Generation", Int: true}, {Name: "Old_serial"}, {Name: "New_serial"},
			{Name: "Old_fingerprint_SHA256"}, {Name: "New_fingerprint_SHA256"},
			{Name: "CA_added"}, {Name: "CA_removed"},
		},
		Rows: [][]any{},
	}
	h, ok := x.env.Certs.(interface{ History() []tlsctx.HistoryEntry })
	if !ok {
		return res
	}
	for _, e := range h.History() {
		head := []any{sysvars.FormatTime(e.Time), nullIfEmpty(e.Trigger)}
		tail := func(c tlsctx.ChannelChange) []any {
			return []any{e.Result, nullIfEmpty(e.Error), e.Generation,
				nullIfEmpty(c.OldSerial), nullIfEmpty(c.NewSerial),
				nullIfEmpty(c.OldFingerprint), nullIfEmpty(c.NewFingerprint),
				nullIfEmpty(strings.Join(c.CAAdded, "; ")), nullIfEmpty(strings.Join(c.CARemoved, "; "))}
		}
		if len(e.Channels) == 0 {
			res.Rows = append(res.Rows, append(append(head, nil), tail(tlsctx.ChannelChange{})...))
			continue
		}
		for _, c := range e.Channels {
			row := append(append([]any{}, head...), string(c.Channel))
			res.Rows = append(res.Rows, append(row, tail(c)...))
		}
	}
	return res
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (x *Executor) topology() (aggs, leaves []Node) {
	if x.env.Topology == nil {
		return nil, nil
	}
	return x.env.Topology()
}

func nodeState(n Node) string {
	if n.State == "" {
		return "online"
	}
	return n.State
}

func isMasterRole(role string) bool {
	switch strings.ToLower(strings.TrimSpace(role)) {
	case "master", "leader", "master_aggregator", "master aggregator", "ma":
		return true
	}
	return false
}

// showAggregators mirrors SingleStore's SHOW AGGREGATORS columns. ssld does
// not track connections or latency, so those are NULL. The master aggregator
// is the node whose Role says so, or, when no node does, the first one listed
// (SingleStore lists the master first). NodeID numbers nodes from 1 in
// listing order, aggregators first.
func (x *Executor) showAggregators() *Result {
	aggs, _ := x.topology()
	res := &Result{
		Columns: []Column{
			{Name: "Host"}, {Name: "Port", Int: true}, {Name: "State"}, {Name: "Opened_Connections", Int: true},
			{Name: "Average_Roundtrip_Latency_ms"}, {Name: "Master_Aggregator", Int: true}, {Name: "Role"},
			{Name: "NodeID", Int: true}, {Name: "Runtime_State"},
		},
		Rows: [][]any{},
	}
	explicit := false
	for _, n := range aggs {
		if isMasterRole(n.Role) {
			explicit = true
		}
	}
	for i, n := range aggs {
		master := isMasterRole(n.Role) || (!explicit && i == 0)
		m, role := int64(0), "Follower"
		if master {
			m, role = 1, "Leader"
		}
		res.Rows = append(res.Rows, []any{n.Host, int64(n.Port), nodeState(n), nil, nil, m, role, int64(i + 1), nodeState(n)})
	}
	return res
}

// showLeaves mirrors SingleStore's SHOW LEAVES columns; ssld has no
// availability groups or pairs, so those are 1 and NULL.
func (x *Executor) showLeaves() *Result {
	aggs, leaves := x.topology()
	res := &Result{
		Columns: []Column{
			{Name: "Host"}, {Name: "Port", Int: true}, {Name: "Availability_Group", Int: true}, {Name: "Pair_Host"},
			{Name: "Pair_Port", Int: true}, {Name: "State"}, {Name: "Opened_Connections", Int: true},
			{Name: "Average_Roundtrip_Latency_ms"}, {Name: "NodeId", Int: true}, {Name: "Grace_Period_in_Seconds", Int: true},
			{Name: "Runtime_State"},
		},
		Rows: [][]any{},
	}
	for i, n := range leaves {
		res.Rows = append(res.Rows, []any{n.Host, int64(n.Port), int64(1), nil, nil, nodeState(n), nil, nil,
			int64(len(aggs) + i + 1), nil, nodeState(n)})
	}
	return res
}

// showGrants lists a user's grants. Another user's grants need SUPER (MySQL
// needs SELECT on the mysql schema and answers 1044 without it).
func (x *Executor) showGrants(s *Session, c ShowGrants) (*Result, *Error) {
	user, host := c.User, c.Host
	if err := checkAccountName(user, host); err != nil {
		return nil, err
	}
	self := user == "" || user == s.User
	if user == "" {
		user = s.User
	}
	if host == "" {
		host = "%"
	}
	if !self && !s.HasPrivilege("SUPER") {
		return nil, newError(mysql.ERDBAccessDenied, mysql.SSClientError,
			"Access denied for user '%s'@'%s' to database 'mysql'", s.User, s.Host)
	}
	acct, found := Account{Privileges: s.Privileges}, self
	if x.env.Accounts != nil {
		if a, ok := x.env.Accounts(user); ok {
			acct, found = a, true
		}
	}
	var grants []string
	if found {
		grants = grantsFor(user, host, acct)
	}
	res := &Result{Columns: []Column{{Name: "Grants for " + user + "@" + host}}, Rows: [][]any{}}
	for _, g := range grants {
		res.Rows = append(res.Rows, []any{g})
	}
	return res, nil
}

// Account is what SHOW GRANTS shows of a user.
type Account struct {
	Privileges              []string // as configured; rendered upper-case
	RequireSSL, RequireX509 bool
}

// grantsFor renders the GRANT line of an account, with its REQUIRE clause
// (as MySQL 5.7 printed it; MySQL 8 shows that only in SHOW CREATE USER).
func grantsFor(user, host string, a Account) []string {
	list := "USAGE"
	if len(a.Privileges) > 0 {
		up := make([]string, len(a.Privileges))
		for i, p := range a.Privileges {
			up[i] = strings.ToUpper(p)
		}
		list = strings.Join(up, ", ")
	}
	g := "GRANT " + list + " ON *.* TO " + quoteString(user) + "@" + quoteString(host)
	switch {
	case a.RequireX509:
		g += " REQUIRE X509"
	case a.RequireSSL:
		g += " REQUIRE SSL"
	}
	return []string{g}
}

// quoteString quotes s as a MySQL string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// showSSLSessions is SHOW SSL SESSIONS: one row per open TLS session with
// a client certificate, in id order; as SHOW PROCESSLIST, a user without
// SUPER sees only their own.
func (x *Executor) showSSLSessions(s *Session) *Result {
	res := &Result{
		Columns: []Column{{Name: "Id", Int: true}, {Name: "User"}, {Name: "Host"}, {Name: "Channel"},
			{Name: "Peer_subject"}, {Name: "Peer_serial"}, {Name: "Trusted_now"}},
		Rows: [][]any{},
	}
	l, ok := x.env.Processes.(SSLSessionLister)
	if !ok {
		return res
	}
	all := s.HasPrivilege("SUPER")
	for _, p := range l.SSLSessions() {
		if !all && p.User != s.User {
			continue
		}
		res.Rows = append(res.Rows, []any{int64(p.ID), p.User, p.Host, string(p.Channel), p.PeerSubject, p.PeerSerial, p.TrustedNow})
	}
	return res
}

package cluster

import (
	"context"
	"strings"
)

// PreflightStatement is the read-only statement a dry run sends to ssld
// nodes: the whole reload validation, nothing swapped, no reload
// timestamps moved (docs/sql.md).
const PreflightStatement = "CHECK TLS"

// preflight runs CHECK TLS on an ssld node and turns its rows into the
// node's result: ready with the certificate the client channel would serve
// (WouldServe), or would_fail with the node's reasons (one per distinct
// reason, naming its channels; nothing about contexts kept, since nothing
// was reloaded). The proof checks
// (--expect-*, --min-validity, --require-change) apply to the would-be
// certificate: one that a reload would serve and that would then be stale
// is would_fail too.
func (r *runner) preflight(ctx context.Context, conn *sqlConn, res NodeResult) NodeResult {
	res.Statement = PreflightStatement
	cols, rows, err := conn.query(ctx, PreflightStatement, nodeStateLimit)
	if err != nil {
		st, msg, _ := classify(&stepError{PreflightStatement, err})
		res.Status, res.Error = st, msg
		return res
	}
	checks, err := parseCheckTLS(cols, rows)
	if err != nil {
		res.Status, res.Error = StatusFailed, err.Error()
		return res
	}
	var why []string
	if fails := wouldFail(checks); fails != "" {
		why = append(why, "a reload would fail: "+fails)
	}
	// The client channel's rows: one per certificate it would serve.
	var client []Served
	found := false
	for i := range checks {
		if checks[i].channel == "client" && checks[i].status == "ready" {
			found = true
			if checks[i].files.Fingerprint != "" {
				client = append(client, checks[i].files)
			}
		}
	}
	if len(why) == 0 && !found {
		why = append(why, PreflightStatement+": the node reported no client channel")
	}
	if len(why) == 0 && len(client) > 0 {
		res.WouldServe = client[0]
		for _, w := range r.proofFailures(client, res.BeforeAll) {
			why = append(why, "after a reload it would serve a certificate that "+w)
		}
	}
	if len(why) > 0 {
		res.Status, res.Error = StatusWouldFail, strings.Join(why, "; ")
		return res
	}
	res.Status = StatusReady
	return res
}

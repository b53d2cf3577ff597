package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ssld/ssld/sysvars"
)

// PreflightStatement is the read-only statement a dry run sends to ssld
// nodes: the whole reload validation, nothing swapped, no reload
// timestamps moved (docs/sql.md).
const PreflightStatement = "CHECK TLS"

// preflight runs CHECK TLS on an ssld node and turns its rows into the
// node's result: ready with the certificate the client channel would serve
// (WouldServe), or would_fail with the node's reasons. The proof checks
// (--expect-*, --min-validity, --require-change) apply to the would-be
// certificate: one that a reload would serve and that would then be stale
// is would_fail too.
func (r *runner) preflight(ctx context.Context, conn *sqlConn, res NodeResult) NodeResult {
	res.Statement = PreflightStatement
	cols, rows, err := conn.query(ctx, PreflightStatement)
	if err != nil {
		st, msg, _ := classify(&stepError{PreflightStatement, err})
		res.Status, res.Error = st, msg
		return res
	}
	idx := map[string]int{}
	for i, c := range cols {
		idx[strings.ToLower(c)] = i
	}
	for _, c := range []string{"channel", "status", "serial", "fingerprint_sha256", "not_after", "issuer", "message"} {
		if _, ok := idx[c]; !ok {
			res.Status, res.Error = StatusFailed, fmt.Sprintf("%s: the node's answer has no %s column (got %v)", PreflightStatement, c, cols)
			return res
		}
	}
	var why []string
	var client []string
	for _, row := range rows {
		ch, st := row[idx["channel"]], row[idx["status"]]
		switch st {
		case "ready":
			if ch == "client" {
				client = row
			}
		default:
			why = append(why, fmt.Sprintf("channel %s: %s", ch, row[idx["message"]]))
		}
	}
	if len(why) == 0 && client == nil {
		why = append(why, PreflightStatement+": the node reported no client channel")
	}
	if len(why) == 0 && client[idx["serial"]] != "" {
		res.WouldServe = Served{
			Serial: client[idx["serial"]], Fingerprint: strings.ToLower(client[idx["fingerprint_sha256"]]),
			Issuer: client[idx["issuer"]],
		}
		res.WouldServe.issuerDN, _ = parseDN(res.WouldServe.Issuer)
		if t, err := time.Parse(sysvars.TimeFormat, client[idx["not_after"]]); err == nil {
			res.WouldServe.NotAfter = t.UTC()
		}
		for _, w := range r.proofFailures(res.WouldServe, &res.Before) {
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

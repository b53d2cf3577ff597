package cluster

import (
	"fmt"
	"strings"
)

// nextStep is the one thing the operator should do about row r, or "" for
// a row that is fine. It reads the row's status, dialect and the step that
// failed (the prefix of Error that the runner wrote).
func (r *runner) nextStep(res NodeResult) string {
	timeout := r.opts.Timeout.String()
	onNode := "run `ssld check --config <its ssld.yaml>` on the node to see which file or setting is wrong, fix it"
	if res.Dialect != DialectSSLD && res.Dialect != DialectAuto {
		onNode = "read the node's error log (it names the file the reload could not load), fix the files"
	}
	switch res.Status {
	case StatusUnreachable:
		return "start the node (or its network path) and run the same command again; if it is down on purpose, mark it " +
			"offline in the topology ({address: ..., state: offline}, or the cluster: section of the master) so the run skips it"
	case StatusTimeout:
		if strings.HasPrefix(res.Error, res.Statement+":") && res.Statement != "" {
			return fmt.Sprintf("the node did not finish %s within --timeout %s: look at the node (load, a slow disk or key "+
				"store), then run again with a longer --timeout (e.g. --timeout %s)", res.Statement, timeout, 3*r.opts.Timeout)
		}
		return fmt.Sprintf("the node accepted the connection but did not answer within --timeout %s: check that its process "+
			"is not hung (restart it), or run again with a longer --timeout if it is only slow", timeout)
	case StatusAuthFailed:
		return "check --user and the password, and that the user has SUPER (ssld, SingleStore), CONNECTION_ADMIN (MySQL) " +
			"or RELOAD (MariaDB) on this node"
	case StatusFailed:
		switch {
		case strings.Contains(res.Error, "certificate not verified"):
			return "give the CA that signed the node's certificate with --ssl-ca (or fix the node's certificate), then run again"
		case strings.HasPrefix(res.Error, "invalid options"):
			return "fix the options named in the error"
		case res.Statement != "" && strings.HasPrefix(res.Error, res.Statement+":"):
			return onNode + ", and run the same command again"
		case strings.Contains(res.Error, "the node sent"), strings.Contains(res.Error, "malformed"):
			return "the node answered with something no ssld, MySQL or MariaDB sends: check what listens at this address"
		}
		return onNode + ", and run the same command again"
	case StatusWouldFail:
		return onNode + ", and run the dry run again"
	case StatusStale:
		if strings.Contains(res.Error, "its files hold") {
			return "the node's files changed since it last reloaded: run `ssld cluster reload` (or `ssld reload` on the node), " +
				"then this check again"
		}
		if strings.Contains(res.Error, "could not load its files") {
			return onNode + ", and run the same command again"
		}
		return "the node did not serve what was expected: check which files it reads (`ssld check` on ssld nodes) and " +
			"whether they hold the certificate you deployed, then run again"
	case StatusUnproven:
		return "run `ssld cluster reload --require-current`: for this dialect a reload that succeeds in the same run is the proof"
	case StatusSkipped:
		switch {
		case !Online(res.State):
			return "when the node is back online, run `ssld cluster status --require-current` to prove what it serves"
		case strings.Contains(res.Error, "cancelled"):
			return "run the same command again"
		}
		return "fix the nodes named here (see their rows) and run the same command again; --continue-on-error goes on anyway"
	}
	return ""
}

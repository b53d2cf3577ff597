package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/nodetest"
)

// The in-process node of internal/nodetest, under the names these tests
// have always used.
type (
	testNode = nodetest.Node
	serials  = nodetest.Serials
)

var (
	newTestNode         = nodetest.New
	configYAML          = nodetest.ConfigYAML
	writeDevFolder      = nodetest.WriteDevFolder
	writeDevPair        = nodetest.WriteDevPair
	serialOf            = nodetest.SerialOf
	variable            = nodetest.Variable
	sqlErr              = nodetest.SQLErr
	ctxT                = nodetest.Ctx
	contains            = nodetest.Contains
	mysqlTLSArgs        = nodetest.MySQLTLSArgs
	mysqlSocket         = nodetest.MySQLSocket
	opensslSerial       = nodetest.OpenSSLSerial
	opensslServedSerial = nodetest.OpenSSLServedSerial
	splitAddr           = nodetest.SplitAddr
	tlsSeq              = &nodetest.TLSSeq
)

const (
	adminPW        = nodetest.AdminPW
	shaPW          = nodetest.ShaPW
	monitorPW      = nodetest.MonitorPW
	plainPW        = nodetest.PlainPW
	rotateValidity = nodetest.RotateValidity

	devCACert     = config.DevCACert
	devCAKey      = config.DevCAKey
	devServerCert = config.DevServerCert
	devServerKey  = config.DevServerKey
	devSocket     = config.DevSocket
)

var devLayoutConfig = config.DevLayoutConfig

// querier is a *sql.DB or one *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// showVariables runs a SHOW VARIABLES statement and returns its rows by
// variable name.
func showVariables(ctx context.Context, db querier, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v := map[string]string{}
	for rows.Next() {
		var k, val string
		if err := rows.Scan(&k, &val); err != nil {
			return nil, err
		}
		v[k] = val
	}
	return v, rows.Err()
}

// checkReport is the JSON that `ssld check --format json` prints.
type checkReport struct {
	Config       string         `json:"config"`
	OK           bool           `json:"ok"`
	Channels     []checkChannel `json:"channels"`
	Warnings     []string       `json:"warnings"`
	Problems     []string       `json:"problems"`
	ValidityOnly bool           `json:"validity_only"`
	Allowed      bool           `json:"allowed"`
}

// checkChannel is one channel of a checkReport.
type checkChannel struct {
	Channel  string   `json:"channel"`
	TLS      bool     `json:"tls"`
	CertFile string   `json:"cert_file,omitempty"`
	Serial   string   `json:"serial,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	NotAfter string   `json:"not_after,omitempty"`
	DaysLeft *float64 `json:"days_left,omitempty"`
	// CRLs (ssl_crl, ssl_crlpath) the channel applies, and the earliest
	// nextUpdate among them.
	CRLs          int    `json:"crls,omitempty"`
	CRLNextUpdate string `json:"crl_next_update,omitempty"`
	// Certificates lists every certificate the channel serves; the fields
	// above describe the first.
	Certificates []checkCert `json:"certificates,omitempty"`
	Warnings     []string    `json:"warnings"`
	Error        string      `json:"error,omitempty"`
}

// checkCert is one certificate of a checkChannel.
type checkCert struct {
	Position int     `json:"position"`
	KeyType  string  `json:"key_type"`
	CertFile string  `json:"cert_file"`
	Serial   string  `json:"serial"`
	Subject  string  `json:"subject"`
	Issuer   string  `json:"issuer"`
	NotAfter string  `json:"not_after"`
	DaysLeft float64 `json:"days_left"`
}

// runCheck runs `ssld check --config path --format json` (with --days when
// days > 0) and returns its report; an exit status other than 0, 1 or 3
// fails t.
func runCheck(t testing.TB, path string, days int) checkReport {
	t.Helper()
	args := []string{"check", "--config", path, "--format", "json"}
	if days > 0 {
		args = append(args, "--days", strconv.Itoa(days))
	}
	cmd := exec.Command(ssldBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := exitStatus(t, err, stderr.String())
	require.Contains(t, []int{0, 1, 3}, code, "ssld check: %s%s", out, stderr.String())
	var rep checkReport
	require.NoError(t, json.Unmarshal(out, &rep), "ssld check --format json: %s", out)
	return rep
}

// run runs the ssld binary with args, as the CLI tests' runCLI, writing
// its output to stdout and stderr; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runIn(args, nil, stdout, stderr)
}

// runIn is run with stdin.
func runIn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.Command(binaryPath, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "ssld did not run: %v\n", err)
		return -1
	}
	return 0
}

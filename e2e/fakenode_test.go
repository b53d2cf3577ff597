package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

// answerFunc answers one statement sent to a fake node.
type answerFunc func(query string, cb mysql.ResultSpoolFn) error

// startFakeNode serves the MySQL protocol (vitess, no authentication) on a
// loopback port, with TLS from leaf and the given server version, and
// answers every statement with answer: a stand-in for a node that is not
// ssld, or an ssld that misbehaves. It stops when the test ends.
func startFakeNode(t *testing.T, leaf *pki.Leaf, version string, answer answerFunc) string {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l, err := mysql.NewListenerWithConfig(mysql.ListenerConfig{Listener: nl, AuthServer: mysql.NewAuthServerNone(),
		Handler: fakeNode{answer}, ConnReadTimeout: 5 * time.Second, ConnWriteTimeout: 5 * time.Second,
		ConnReadBufferSize: mysql.DefaultConnBufferSize})
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	require.NoError(t, err)
	l.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l.ServerVersion = version
	go l.Accept()
	t.Cleanup(l.Close)
	return nl.Addr().String()
}

// fakeNode is the mysql.Handler of startFakeNode.
type fakeNode struct{ answer answerFunc }

var _ mysql.Handler = fakeNode{}

func (h fakeNode) ComQuery(_ context.Context, _ *mysql.Conn, query string, cb mysql.ResultSpoolFn) error {
	return h.answer(query, cb)
}
func (fakeNode) NewConnection(*mysql.Conn)                   {}
func (fakeNode) ConnectionClosed(*mysql.Conn)                {}
func (fakeNode) ConnectionAborted(*mysql.Conn, string) error { return nil }
func (fakeNode) ComInitDB(*mysql.Conn, string) error         { return nil }
func (fakeNode) WarningCount(*mysql.Conn) uint16             { return 0 }
func (fakeNode) ComResetConnection(*mysql.Conn) error        { return nil }
func (h fakeNode) ComMultiQuery(ctx context.Context, c *mysql.Conn, q string, cb mysql.ResultSpoolFn) (string, error) {
	return "", h.ComQuery(ctx, c, q, cb)
}
func (fakeNode) ComPrepare(context.Context, *mysql.Conn, string, *mysql.PrepareData) ([]*querypb.Field, error) {
	return nil, errors.New("not supported")
}
func (fakeNode) ComStmtExecute(context.Context, *mysql.Conn, *mysql.PrepareData, func(*sqltypes.Result) error) error {
	return errors.New("not supported")
}
func (fakeNode) ParserOptionsForConnection(*mysql.Conn) (sqlparser.ParserOptions, error) {
	return sqlparser.ParserOptions{}, nil
}

// textField is a VARCHAR column named n, and textRow a row of VARCHAR
// values: what a fake node answers.
func textField(n string) *querypb.Field { return &querypb.Field{Name: n, Type: querypb.Type_VARCHAR} }

func textRow(vs ...string) []sqltypes.Value {
	out := make([]sqltypes.Value, 0, len(vs))
	for _, v := range vs {
		out = append(out, sqltypes.NewVarChar(v))
	}
	return out
}

package sqlcmd

import (
	"fmt"
	"github.com/dolthub/vitess/go/mysql"
	"strings"
)

// Error is a MySQL error: number, SQLSTATE and message. Every error returned
// by Parse, Exec and Run is an *Error, so the protocol layer can turn it into
// an error packet without guessing.
type Error struct {
	Num   uint16
	State string
	Msg   string
}

// Error renders the error the way the mysql CLI prints it.
func (e *Error) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Num, e.State, e.Msg)
}

// MySQL error numbers that dolthub/vitess's go/mysql does not define; every
// other number and SQLSTATE is vitess's constant (mysql.ER*, mysql.SS*), so
// existing tools recognise them.
const (
	ErrWrongParamCount uint16 = 1582 // ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT, 42000

	// ErrSSLLibrary is MySQL's ER_DA_SSL_LIBRARY_ERROR, which MySQL returns
	// when ALTER INSTANCE RELOAD TLS cannot build the new contexts. MySQL's
	// error tables list it as 3888 (3889 is ER_SECONDARY_ENGINE), so ssld uses
	// 3888.
	ErrSSLLibrary uint16 = 3888

	// ErrRestartRequired is returned when a reload would change something
	// that only a restart may change (key pair or CA set appearing or
	// disappearing, tls_version, listen addresses). It deliberately shares
	// ER_DA_SSL_LIBRARY_ERROR's number: for MySQL clients and scripts it is
	// a failed TLS reload with the old contexts kept. The message (see
	// reload.go) is distinct and names the setting.
	ErrRestartRequired = ErrSSLLibrary
)

func newError(num uint16, state, format string, args ...any) *Error {
	return &Error{Num: num, State: state, Msg: fmt.Sprintf(format, args...)}
}

func errSuperRequired() *Error {
	return newError(mysql.ERSpecifiedAccessDenied, mysql.SSClientError,
		"Access denied; you need (at least one of) the SUPER privilege(s) for this operation")
}

func errUnknownVar(name string) *Error {
	return newError(mysql.ERUnknownSystemVariable, mysql.SSUnknownSQLState, "Unknown system variable '%s'", name)
}

func errReadOnly(name string) *Error {
	return newError(mysql.ERIncorrectGlobalLocalVar, mysql.SSUnknownSQLState, "Variable '%s' is a read only variable", name)
}

func errNotSupported(what string) *Error {
	return newError(mysql.ERNotSupportedYet, mysql.SSClientError, "This version of ssld doesn't yet support '%s'", what)
}

func errInternal() *Error {
	return newError(mysql.ERUnknownError, mysql.SSUnknownSQLState, "internal error")
}

// errSyntax builds MySQL's syntax error text; near is the query text from the
// offending token on (MySQL quotes at most 80 characters of it).
func errSyntax(near string) *Error {
	near = strings.TrimSpace(near)
	if r := []rune(near); len(r) > 80 {
		near = string(r[:80])
	}
	return newError(mysql.ERParseError, mysql.SSClientError,
		"You have an error in your SQL syntax; check the manual that corresponds to your ssld version for the right syntax to use near '%s' at line 1", near)
}

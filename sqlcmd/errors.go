package sqlcmd

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dolthub/vitess/go/mysql"
)

// Error is a MySQL error: number, SQLSTATE and message, as vitess writes
// it in an error packet (its *mysql.SQLError: one error type from sqlcmd to
// the wire). Every error returned by Parse, Exec and Run is an *Error, its
// Message already cut to MaxMessageBytes.
type Error = mysql.SQLError

// MySQL error numbers that dolthub/vitess's go/mysql does not define; every
// other number and SQLSTATE is vitess's constant (mysql.ER*, mysql.SS*), so
// existing tools recognise them.
const (
	ErrWrongParamCount = 1582 // ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT, 42000

	// ErrSSLLibrary is MySQL's ER_DA_SSL_LIBRARY_ERROR, which MySQL returns
	// when ALTER INSTANCE RELOAD TLS cannot build the new contexts. MySQL's
	// error tables list it as 3888 (3889 is ER_SECONDARY_ENGINE), so ssld uses
	// 3888.
	ErrSSLLibrary = 3888

	// ErrRestartRequired is returned when a reload would change something
	// that only a restart may change (key pair or CA set appearing or
	// disappearing, listen addresses). It deliberately shares
	// ER_DA_SSL_LIBRARY_ERROR's number: for MySQL clients and scripts it is
	// a failed TLS reload with the old contexts kept. The message (see
	// reload.go) is distinct and names the setting.
	ErrRestartRequired = ErrSSLLibrary
)

// MaxMessageBytes bounds the text of every error and warning ssld sends or
// keeps for SHOW WARNINGS: MySQL's MYSQL_ERRMSG_SIZE (512). A message that
// quotes client input (an unknown column, variable or database) is cut
// there, as MySQL cuts it, so an error never echoes a large statement back
// or keeps it per connection.
const MaxMessageBytes = 512

// MaxUserNameChars is the longest user name MySQL accepts
// (USERNAME_CHAR_LENGTH); longer names are cut to it wherever they are
// shown (errors, logs).
const MaxUserNameChars = 32

// CutMessage returns s cut to at most MaxMessageBytes bytes, at a UTF-8
// character boundary.
func CutMessage(s string) string { return cutBytes(s, MaxMessageBytes) }

// CutUserName returns name cut to MaxUserNameChars characters.
func CutUserName(name string) string {
	n := 0
	for i := range name {
		if n == MaxUserNameChars {
			return name[:i]
		}
		n++
	}
	return name
}

// cutBytes cuts s to at most max bytes without splitting a UTF-8 sequence.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func newError(num int, state, format string, args ...any) *Error {
	return &Error{Num: num, State: state, Message: CutMessage(fmt.Sprintf(format, args...))}
}

func errSuperRequired() *Error {
	return newError(mysql.ERSpecifiedAccessDenied, mysql.SSClientError,
		"Access denied; you need (at least one of) the SUPER privilege(s) for this operation")
}

// errReloadPrivilege is 1227 for a reload statement, naming both
// privileges that allow it.
func errReloadPrivilege() *Error {
	return newError(mysql.ERSpecifiedAccessDenied, mysql.SSClientError,
		"Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation")
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

// maxHostNameChars is the longest host name of an account (MySQL's
// HOSTNAME_LENGTH).
const maxHostNameChars = 255

// checkAccountName applies MySQL's bounds on account names: 1470
// (ER_WRONG_STRING_LENGTH) for a user name over MaxUserNameChars or a host
// over 255 characters.
func checkAccountName(user, host string) *Error {
	if utf8.RuneCountInString(user) > MaxUserNameChars {
		return errNameTooLong(user, "user name", MaxUserNameChars)
	}
	if utf8.RuneCountInString(host) > maxHostNameChars {
		return errNameTooLong(host, "host name", maxHostNameChars)
	}
	return nil
}

// errNameTooLong is MySQL's ER_WRONG_STRING_LENGTH (1470, HY000); the
// message quotes at most 70 characters of the name, as MySQL's does.
func errNameTooLong(name, what string, max int) *Error {
	r := []rune(name)
	if len(r) > 70 {
		r = r[:70]
	}
	return newError(1470, mysql.SSUnknownSQLState, "String '%s' is too long for %s (should be no longer than %d)", string(r), what, max)
}

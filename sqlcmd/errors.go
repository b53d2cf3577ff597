package sqlcmd

import (
	"fmt"
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

// MySQL error numbers used by ssld. Where MySQL has a matching error the
// number and SQLSTATE are MySQL's, so existing tools recognise them.
const (
	ErrDBAccessDenied       uint16 = 1044 // ER_DBACCESS_DENIED_ERROR, 42000
	ErrBadDB                uint16 = 1049 // ER_BAD_DB_ERROR, 42000
	ErrParse                uint16 = 1064 // ER_PARSE_ERROR, 42000
	ErrEmptyQuery           uint16 = 1065 // ER_EMPTY_QUERY, 42000
	ErrUnknown              uint16 = 1105 // ER_UNKNOWN_ERROR, HY000 (internal errors)
	ErrUnknownSysVar        uint16 = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE, HY000
	ErrWrongArguments       uint16 = 1210 // ER_WRONG_ARGUMENTS, HY000 (unknown TLS channel)
	ErrSpecificAccessDenied uint16 = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR, 42000
	ErrGlobalVariable       uint16 = 1229 // ER_GLOBAL_VARIABLE, HY000
	ErrWrongValueForVar     uint16 = 1231 // ER_WRONG_VALUE_FOR_VAR, 42000
	ErrWrongTypeForVar      uint16 = 1232 // ER_WRONG_TYPE_FOR_VAR, 42000
	ErrNotSupported         uint16 = 1235 // ER_NOT_SUPPORTED_YET, 42000
	ErrIncorrectGlobalLocal uint16 = 1238 // ER_INCORRECT_GLOBAL_LOCAL_VAR, HY000 (read-only / wrong scope)
	ErrUnknownCharset       uint16 = 1115 // ER_UNKNOWN_CHARACTER_SET, 42000
	ErrUnknownCollation     uint16 = 1273 // ER_UNKNOWN_COLLATION, HY000
	ErrCollationCharset     uint16 = 1253 // ER_COLLATION_CHARSET_MISMATCH, 42000
	ErrUnknownTimeZone      uint16 = 1298 // ER_UNKNOWN_TIME_ZONE, HY000
	ErrWrongParamCount      uint16 = 1582 // ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT, 42000

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

// SQLSTATE values.
const (
	StateGeneral      = "HY000"
	StateSyntaxOrAuth = "42000"
)

func newError(num uint16, state, format string, args ...any) *Error {
	return &Error{Num: num, State: state, Msg: fmt.Sprintf(format, args...)}
}

func errSuperRequired() *Error {
	return newError(ErrSpecificAccessDenied, StateSyntaxOrAuth,
		"Access denied; you need (at least one of) the SUPER privilege(s) for this operation")
}

func errUnknownVar(name string) *Error {
	return newError(ErrUnknownSysVar, StateGeneral, "Unknown system variable '%s'", name)
}

func errReadOnly(name string) *Error {
	return newError(ErrIncorrectGlobalLocal, StateGeneral, "Variable '%s' is a read only variable", name)
}

func errNotSupported(what string) *Error {
	return newError(ErrNotSupported, StateSyntaxOrAuth, "This version of ssld doesn't yet support '%s'", what)
}

func errInternal() *Error {
	return newError(ErrUnknown, StateGeneral, "internal error")
}

// errSyntax builds MySQL's syntax error text; near is the query text from the
// offending token on (MySQL quotes at most 80 characters of it).
func errSyntax(near string) *Error {
	near = strings.TrimSpace(near)
	if r := []rune(near); len(r) > 80 {
		near = string(r[:80])
	}
	return newError(ErrParse, StateSyntaxOrAuth,
		"You have an error in your SQL syntax; check the manual that corresponds to your ssld version for the right syntax to use near '%s' at line 1", near)
}

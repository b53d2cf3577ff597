package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// MySQL error numbers that mean "these credentials cannot do this".
var authErrors = map[uint16]bool{
	1044: true, // ER_DBACCESS_DENIED_ERROR
	1045: true, // ER_ACCESS_DENIED_ERROR (bad user or password)
	1142: true, // ER_TABLEACCESS_DENIED_ERROR
	1227: true, // ER_SPECIFIC_ACCESS_DENIED_ERROR (no SUPER / RELOAD)
	1251: true, // ER_NOT_SUPPORTED_AUTH_MODE
	1698: true, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	3118: true, // ER_ACCOUNT_HAS_BEEN_LOCKED
}

// classify maps an error of a node conversation to a status and the text
// shown to the operator, and says whether trying again may help.
func classify(err error) (st Outcome, msg string, retryable bool) {
	msg = err.Error()
	var me *mysql.MySQLError
	var se *serverError
	var ne net.Error
	var ue x509.UnknownAuthorityError
	var ce x509.CertificateInvalidError
	var he x509.HostnameError
	var tv *tls.CertificateVerificationError
	var ve *verifyError
	switch {
	case errors.As(err, &me):
		msg = stepPrefix(err) + fmt.Sprintf("ERROR %d (%s): %s", me.Number, string(me.SQLState[:]), boundText(me.Message, maxNodeText))
		if authErrors[me.Number] {
			return StatusAuthFailed, msg, false
		}
		return StatusFailed, msg, me.Number == 1040 // too many connections
	case errors.As(err, &se):
		if authErrors[se.Num] {
			return StatusAuthFailed, msg, false
		}
		return StatusFailed, msg, se.Num == 1040
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return StatusTimeout, msg, false
	case errors.Is(err, context.Canceled):
		return StatusSkipped, msg, false
	case errors.As(err, &ve), errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &he), errors.As(err, &tv):
		return StatusFailed, msg, false
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return StatusUnreachable, msg, true
	}
	var de *net.DNSError
	var oe *net.OpError
	if errors.As(err, &de) || (errors.As(err, &oe) && oe.Op == "dial") {
		return StatusUnreachable, msg, true
	}
	return StatusFailed, msg, false
}

func stepPrefix(err error) string {
	var s *stepError
	if errors.As(err, &s) {
		return s.Step + ": "
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

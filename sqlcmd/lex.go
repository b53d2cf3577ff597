package sqlcmd

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a lexed token.
type tokKind uint8

const (
	tokWord   tokKind = iota // keyword or bare identifier
	tokQuoted                // 'string' or "string"
	tokBack                  // `identifier`
	tokSymbol                // any other single character, e.g. ';'
)

// token is one lexed token; start/end are byte offsets into the query.
type token struct {
	kind       tokKind
	text       string // unquoted text for tokQuoted/tokBack
	start, end int
}

// upper returns the word in upper case (for keyword comparison).
func (t token) upper() string { return strings.ToUpper(t.text) }

var (
	errUnterminated  = errors.New("unterminated comment or quote")
	errTooManyTokens = errors.New("too many tokens")
)

// lex splits q into tokens, skipping whitespace and comments (/* */, "-- "
// and "#" to end of line). It is only used to recognise ssld's own statements
// and to strip leading/trailing comments and semicolons; everything else is
// left to vitess. lex never panics; on an unterminated comment or quote it
// returns the tokens so far and errUnterminated, and after
// MaxStatementTokens tokens it stops with errTooManyTokens.
func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		if len(toks) > MaxStatementTokens {
			return toks, errTooManyTokens
		}
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			i = skipLine(q, i)
		case c == '-' && i+1 < len(q) && q[i+1] == '-' && (i+2 == len(q) || isSpaceOrCtl(q[i+2])):
			i = skipLine(q, i)
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return toks, errUnterminated
			}
			i += 2 + end + 2
		case c == '\'' || c == '"' || c == '`':
			text, next, ok := lexQuoted(q, i)
			if !ok {
				return toks, errUnterminated
			}
			k := tokQuoted
			if c == '`' {
				k = tokBack
			}
			toks = append(toks, token{kind: k, text: text, start: i, end: next})
			i = next
		case isWordByte(q, i):
			j := i
			for j < len(q) && isWordByte(q, j) {
				_, size := utf8.DecodeRuneInString(q[j:])
				j += size
			}
			toks = append(toks, token{kind: tokWord, text: q[i:j], start: i, end: j})
			i = j
		default:
			_, size := utf8.DecodeRuneInString(q[i:])
			toks = append(toks, token{kind: tokSymbol, text: q[i : i+size], start: i, end: i + size})
			i += size
		}
	}
	return toks, nil
}

func isSpaceOrCtl(c byte) bool { return c <= ' ' }

func skipLine(q string, i int) int {
	if nl := strings.IndexByte(q[i:], '\n'); nl >= 0 {
		return i + nl + 1
	}
	return len(q)
}

// isWordByte reports whether the rune at q[i] belongs to an identifier or
// keyword: ASCII letters, digits, '_', '$', '@', '.', and any non-ASCII letter.
func isWordByte(q string, i int) bool {
	c := q[i]
	if c < utf8.RuneSelf {
		return c == '_' || c == '$' || c == '@' || c == '.' ||
			('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
	}
	r, _ := utf8.DecodeRuneInString(q[i:])
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// lexQuoted reads a quoted string or identifier starting at q[i] (the quote).
// A doubled quote stands for itself; in '...' and "..." a backslash escapes
// the next byte.
func lexQuoted(q string, i int) (string, int, bool) {
	quote := q[i]
	var b strings.Builder
	j := i + 1
	for j < len(q) {
		c := q[j]
		switch {
		case c == '\\' && quote != '`' && j+1 < len(q):
			// As in MySQL, \% and \_ keep their backslash so that LIKE
			// patterns can escape wildcards.
			if q[j+1] == '%' || q[j+1] == '_' {
				b.WriteByte('\\')
			}
			b.WriteByte(q[j+1])
			j += 2
		case c == quote && j+1 < len(q) && q[j+1] == quote:
			b.WriteByte(quote)
			j += 2
		case c == quote:
			return b.String(), j + 1, true
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", len(q), false
}

// versionNumber is the MySQL version ssld answers as, in the form of
// executable comments (/*!80035 ... */): major*10000 + minor*100 + patch.
const versionNumber = 80035

// expandExecutable applies MySQL's executable comments: the text of
// /*! ... */ and of /*!NNNNN ... */ with NNNNN <= version is kept as part of
// the statement, a versioned comment for a later version is a comment. Both
// become spaces in place of their markers, so byte offsets (and with them
// the "near '...'" of syntax errors) stay those of the query as sent.
// MariaDB's /*M!NNNNN ... */ is an ordinary comment, as in MySQL 8. Quotes
// and other comments are skipped; an unterminated one leaves the rest as it
// is, for lex to report. A query without "/*!" is returned unchanged.
func expandExecutable(q string, version int) string {
	if !strings.Contains(q, "/*!") {
		return q
	}
	b := []byte(q)
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			b[k] = ' '
		}
	}
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == '#':
			i = skipLine(q, i)
		case c == '-' && i+1 < len(q) && q[i+1] == '-' && (i+2 == len(q) || isSpaceOrCtl(q[i+2])):
			i = skipLine(q, i)
		case c == '\'' || c == '"' || c == '`':
			_, next, ok := lexQuoted(q, i)
			if !ok {
				return string(b)
			}
			i = next
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return string(b)
			}
			closeAt := i + 2 + end
			if i+2 < len(q) && q[i+2] == '!' {
				body := i + 3
				digits := 0
				for body+digits < closeAt && digits < 5 && '0' <= q[body+digits] && q[body+digits] <= '9' {
					digits++
				}
				applies := true
				if digits == 5 {
					n, _ := strconv.Atoi(q[body : body+5])
					applies = n <= version
					body += 5
				}
				if applies {
					blank(i, body)
					blank(closeAt, closeAt+2)
				} else {
					blank(i, closeAt+2)
				}
			}
			i = closeAt + 2
		default:
			i++
		}
	}
	return string(b)
}

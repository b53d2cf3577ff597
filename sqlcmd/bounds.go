package sqlcmd

import (
	"fmt"
	"strings"

	"github.com/dolthub/vitess/go/mysql"
)

// Statement bounds, checked on the text of every statement before any
// parser (ssld's lexer or vitess's) sees it. vitess's tokenizer looks one
// token ahead after NOT and FOR by calling itself, so a run of those
// keywords recurses once per keyword: about 2.5 million of them exhaust
// Go's 1 GB goroutine stack, a fatal error that no recover() catches, and
// every 20,000 of them cost some 16 MiB of stack. Long operator chains
// ("1+1+1...", "~~~~1") build trees as deep as they are long, which the
// parser and ssld's evaluator walk recursively (about 280 bytes of stack
// per token). No ssld statement comes near these bounds: the longest a
// client sends is a connector's start-up SELECT of some 20 variables
// (under 100 tokens, under 1 KiB); a SET of a 64 KiB value
// (MaxVarValueBytes) is four tokens and well under MaxStatementBytes.
const (
	// MaxStatementBytes is the largest statement ssld parses (256 KiB):
	// room for a SET of a MaxVarValueBytes value written in hex.
	MaxStatementBytes = 256 << 10
	// MaxStatementTokens is the most tokens (words, quoted strings,
	// symbols) in one statement; it bounds the depth of any expression
	// to about 2,000 levels (at most ~600 KiB of stack while parsing).
	MaxStatementTokens = 4096
	// MaxKeywordRun is the longest run of NOT / FOR keywords, the two that
	// make vitess's tokenizer recurse, that a statement may hold.
	MaxKeywordRun = 64
)

// ErrStackOverrun is MySQL's ER_STACK_OVERRUN_NEED_MORE (HY000), the error
// MySQL's parser returns for a statement too deep for its stack; ssld
// returns it for a statement over one of the bounds above.
const ErrStackOverrun = 1436

func errTooComplex(format string, args ...any) *Error {
	return newError(ErrStackOverrun, mysql.SSUnknownSQLState, "Thread stack overrun: %s", fmt.Sprintf(format, args...))
}

// checkStatementText applies MaxStatementBytes and MaxKeywordRun to the raw
// text of one statement. It runs in one pass, without allocating, and reads
// quotes and comments as any other bytes: a NOT inside a string or comment
// counts too, so that no difference between ssld's reading of the text and
// vitess's can hide a run from it.
func checkStatementText(q string) *Error {
	if len(q) > MaxStatementBytes {
		return errTooComplex("a statement of %d bytes; ssld parses statements of at most %d bytes", len(q), MaxStatementBytes)
	}
	if n := longestKeywordRun(q, MaxKeywordRun+1); n > MaxKeywordRun {
		return errTooComplex("more than %d NOT/FOR keywords in a row; ssld's parser allows at most %d", MaxKeywordRun, MaxKeywordRun)
	}
	return nil
}

// longestKeywordRun is the length of the longest run of words NOT or FOR
// (any case) in q, where a word is a maximal run of ASCII letters and only
// non-letters may separate the words of a run. It stops counting at limit.
// A word here is never longer than one of vitess's identifiers, so every
// NOT or FOR token vitess reads is a word here too: the count can only be
// too high, never too low.
func longestKeywordRun(q string, limit int) int {
	best, run := 0, 0
	for i := 0; i < len(q); {
		if !isASCIILetter(q[i]) {
			i++
			continue
		}
		j := i
		for j < len(q) && isASCIILetter(q[j]) {
			j++
		}
		if j-i == 3 && (equalFoldASCII(q[i:j], "NOT") || equalFoldASCII(q[i:j], "FOR")) {
			run++
			if run > best {
				best = run
				if best >= limit {
					return best
				}
			}
		} else {
			run = 0
		}
		i = j
	}
	return best
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// equalFoldASCII compares a with the upper-case ASCII word b.
func equalFoldASCII(a, b string) bool {
	for k := 0; k < len(b); k++ {
		if a[k]&^0x20 != b[k] {
			return false
		}
	}
	return true
}

// SplitFirst splits a multi-statement text (COM_QUERY with
// CLIENT_MULTI_STATEMENTS) at its first ';' outside quotes and comments:
// first is the statement before it, rest the text after it, or "" when
// only blanks, comments and semicolons follow. It reads first and the gap
// after it once and copies nothing, so splitting a whole text statement by
// statement is linear in its length (vitess's SplitStatement copies the
// whole remaining text for every statement: quadratic). It never fails: an
// unterminated quote or comment makes the rest of the text one statement,
// for Parse to refuse. Safe for concurrent use.
func SplitFirst(text string) (first, rest string) {
	i := 0
	for i < len(text) {
		switch c := text[i]; {
		case c == ';':
			return text[:i], afterBlanks(text[i+1:])
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(text, i)
		case c == '#' || c == '-' && i+2 < len(text) && text[i+1] == '-' && isSpaceOrCtl(text[i+2]):
			i = skipLine(text, i)
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return text, ""
			}
			i += 2 + end + 2
		default:
			i++
		}
	}
	return text, ""
}

// afterBlanks is s, or "" when s holds only blanks, comments and
// semicolons.
func afterBlanks(s string) string {
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == ';' || isSpaceOrCtl(c):
			i++
		case c == '#' || c == '-' && i+2 < len(s) && s[i+1] == '-' && isSpaceOrCtl(s[i+2]):
			i = skipLine(s, i)
		case c == '/' && i+2 < len(s) && s[i+1] == '*' && s[i+2] != '!':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return s
			}
			i += 2 + end + 2
		default:
			return s
		}
	}
	return ""
}

// skipQuoted returns the index after the quoted string or identifier that
// starts at q[i], with lexQuoted's rules, or len(q) when it is not closed.
func skipQuoted(q string, i int) int {
	quote := q[i]
	j := i + 1
	for j < len(q) {
		switch c := q[j]; {
		case c == '\\' && quote != '`' && j+1 < len(q):
			j += 2
		case c == quote && j+1 < len(q) && q[j+1] == quote:
			j += 2
		case c == quote:
			return j + 1
		default:
			j++
		}
	}
	return len(q)
}

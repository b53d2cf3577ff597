package sysvars

import (
	"unicode"
	"unicode/utf8"
)

// Like reports whether s matches the MySQL LIKE pattern: % matches any run of
// characters (including none), _ matches exactly one character, and a
// backslash makes the next character literal (a trailing backslash matches a
// backslash). Comparison is case-insensitive, as with MySQL's default
// collations. Like is pure and safe for concurrent use; it runs in
// O(len(pattern)*len(s)) time, so hostile patterns cannot blow up.
func Like(pattern, s string) bool {
	p := []rune(pattern)
	t := []rune(s)
	// Iterative matcher with single-star backtracking, which is linear for
	// patterns with one % and at worst quadratic otherwise.
	pi, ti := 0, 0
	starP, starT := -1, -1
	for ti < len(t) {
		if pi < len(p) {
			switch p[pi] {
			case '%':
				starP, starT = pi, ti
				pi++
				continue
			case '_':
				pi++
				ti++
				continue
			case '\\':
				lit := '\\'
				step := 1
				if pi+1 < len(p) {
					lit = p[pi+1]
					step = 2
				}
				if foldEq(lit, t[ti]) {
					pi += step
					ti++
					continue
				}
			default:
				if foldEq(p[pi], t[ti]) {
					pi++
					ti++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starT++
		pi, ti = starP+1, starT
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	if a == utf8.RuneError || b == utf8.RuneError {
		return false
	}
	return unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b)
}

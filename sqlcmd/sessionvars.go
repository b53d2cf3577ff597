package sqlcmd

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sysvars"
)

// Session variables as MySQL 8 checks and stores them. ssld has no data, so
// nothing is converted or collated; what matters is that a client reads back
// what MySQL would have stored, and gets MySQL's error for a value MySQL
// refuses.

// charsets are the character sets of MySQL 8 with their default collations.
var charsets = map[string]string{
	"armscii8": "armscii8_general_ci", "ascii": "ascii_general_ci", "big5": "big5_chinese_ci",
	"binary": "binary", "cp1250": "cp1250_general_ci", "cp1251": "cp1251_general_ci",
	"cp1256": "cp1256_general_ci", "cp1257": "cp1257_general_ci", "cp850": "cp850_general_ci",
	"cp852": "cp852_general_ci", "cp866": "cp866_general_ci", "cp932": "cp932_japanese_ci",
	"dec8": "dec8_swedish_ci", "eucjpms": "eucjpms_japanese_ci", "euckr": "euckr_korean_ci",
	"gb18030": "gb18030_chinese_ci", "gb2312": "gb2312_chinese_ci", "gbk": "gbk_chinese_ci",
	"geostd8": "geostd8_general_ci", "greek": "greek_general_ci", "hebrew": "hebrew_general_ci",
	"hp8": "hp8_english_ci", "keybcs2": "keybcs2_general_ci", "koi8r": "koi8r_general_ci",
	"koi8u": "koi8u_general_ci", "latin1": "latin1_swedish_ci", "latin2": "latin2_general_ci",
	"latin5": "latin5_turkish_ci", "latin7": "latin7_general_ci", "macce": "macce_general_ci",
	"macroman": "macroman_general_ci", "sjis": "sjis_japanese_ci", "swe7": "swe7_swedish_ci",
	"tis620": "tis620_thai_ci", "ucs2": "ucs2_general_ci", "ujis": "ujis_japanese_ci",
	"utf16": "utf16_general_ci", "utf16le": "utf16le_general_ci", "utf32": "utf32_general_ci",
	"utf8mb3": "utf8mb3_general_ci", "utf8mb4": "utf8mb4_0900_ai_ci",
}

// charsetPairs couples each character_set_X with its collation_X: setting
// one sets the other, as in MySQL.
var charsetPairs = map[string]string{
	"character_set_connection": "collation_connection",
	"character_set_database":   "collation_database",
	"character_set_server":     "collation_server",
}

// canonicalCharset returns the stored name of a character set (utf8 is
// utf8mb3 in MySQL 8), or 1115.
func canonicalCharset(name string) (string, *Error) {
	cs := strings.ToLower(strings.TrimSpace(name))
	if cs == "utf8" {
		cs = "utf8mb3"
	}
	if _, ok := charsets[cs]; !ok {
		return "", newError(mysql.ERUnknownCharacterSet, mysql.SSClientError, "Unknown character set: '%s'", name)
	}
	return cs, nil
}

// canonicalCollation returns a collation's stored name and character set,
// or 1273. A collation is accepted when it names a known character set and a
// well-formed suffix (utf8mb4_bin, latin1_german2_ci, ...): ssld compares
// nothing, so the exact table of MySQL's 286 collations is not needed.
func canonicalCollation(name string) (coll, charset string, err *Error) {
	c := strings.ToLower(strings.TrimSpace(name))
	if c == "binary" {
		return "binary", "binary", nil
	}
	if strings.HasPrefix(c, "utf8_") {
		c = "utf8mb3_" + strings.TrimPrefix(c, "utf8_")
	}
	cs, suffix, ok := strings.Cut(c, "_")
	_, known := charsets[cs]
	if !ok || !known || suffix == "" || strings.Trim(suffix, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" ||
		!(strings.HasSuffix(suffix, "_ci") || strings.HasSuffix(suffix, "_cs") || strings.HasSuffix(suffix, "_bin") ||
			suffix == "bin" || strings.HasSuffix(suffix, "_ai_ci") || strings.HasSuffix(suffix, "_as_cs")) {
		return "", "", newError(mysql.ERUnknownCollation, mysql.SSUnknownSQLState, "Unknown collation: '%s'", name)
	}
	return c, cs, nil
}

// sqlModes are MySQL 8's sql_mode flags in the order MySQL prints them
// (bit order); ANSI and TRADITIONAL are combinations that also set the
// flags listed in sqlModeCombos.
var sqlModes = []string{
	"REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "ONLY_FULL_GROUP_BY",
	"NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "ANSI", "NO_AUTO_VALUE_ON_ZERO", "NO_BACKSLASH_ESCAPES",
	"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE", "NO_ZERO_DATE", "ALLOW_INVALID_DATES",
	"ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION",
	"PAD_CHAR_TO_FULL_LENGTH", "TIME_TRUNCATE_FRACTIONAL",
}

var sqlModeCombos = map[string][]string{
	"ANSI": {"REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "ONLY_FULL_GROUP_BY"},
	"TRADITIONAL": {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE", "NO_ZERO_DATE",
		"ERROR_FOR_DIVISION_BY_ZERO", "NO_ENGINE_SUBSTITUTION"},
}

// canonicalSQLMode checks a sql_mode list and returns it as MySQL stores it:
// upper case, each flag once, in MySQL's order, combinations expanded. An
// unknown flag is 1231 naming the whole value, as in MySQL.
func canonicalSQLMode(val string) (string, *Error) {
	set := map[string]bool{}
	for _, f := range strings.Split(val, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		known := false
		for _, m := range sqlModes {
			if m == f {
				known = true
				break
			}
		}
		if !known {
			return "", wrongValue("sql_mode", val)
		}
		set[f] = true
		for _, m := range sqlModeCombos[f] {
			set[m] = true
		}
	}
	var out []string
	for _, m := range sqlModes {
		if set[m] {
			out = append(out, m)
		}
	}
	return strings.Join(out, ","), nil
}

// canonicalTimeZone accepts what MySQL accepts without its time zone tables
// loaded, plus the names of the IANA database Go knows: SYSTEM, an offset
// from -13:59 to +14:00, or a zone name such as Europe/Berlin.
func canonicalTimeZone(val string) (string, *Error) {
	v := strings.TrimSpace(val)
	if strings.EqualFold(v, "SYSTEM") {
		return "SYSTEM", nil
	}
	if len(v) >= 5 && (v[0] == '+' || v[0] == '-') {
		h, m, ok := strings.Cut(v[1:], ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if ok && err1 == nil && err2 == nil && len(m) == 2 && mm < 60 && hh >= 0 {
			minutes := hh*60 + mm
			if (v[0] == '+' && minutes <= 14*60) || (v[0] == '-' && minutes <= 13*60+59) {
				return fmt.Sprintf("%c%02d:%02d", v[0], hh, mm), nil
			}
		}
	} else if v != "" && !strings.EqualFold(v, "local") {
		if _, err := time.LoadLocation(v); err == nil {
			return v, nil
		}
	}
	return "", newError(mysql.ERUnknownTimeZone, mysql.SSUnknownSQLState, "Unknown or incorrect time zone: '%s'", val)
}

var isolationLevels = map[string]string{
	"READ-UNCOMMITTED": "READ-UNCOMMITTED", "READ-COMMITTED": "READ-COMMITTED",
	"REPEATABLE-READ": "REPEATABLE-READ", "SERIALIZABLE": "SERIALIZABLE",
	"0": "READ-UNCOMMITTED", "1": "READ-COMMITTED", "2": "REPEATABLE-READ", "3": "SERIALIZABLE",
}

// synonyms are variables MySQL keeps as two names for one value.
var synonyms = map[string]string{
	"transaction_isolation": "tx_isolation", "tx_isolation": "transaction_isolation",
	"transaction_read_only": "tx_read_only", "tx_read_only": "transaction_read_only",
}

// coupled returns the variables that change together with name (its
// synonym, or the collation of a character set and back).
func coupled(name string) []string {
	var out []string
	if s, ok := synonyms[name]; ok {
		out = append(out, s)
	}
	for cs, coll := range charsetPairs {
		switch name {
		case cs:
			out = append(out, coll)
		case coll:
			out = append(out, cs)
		}
	}
	return out
}

func wrongValue(name, val string) *Error {
	return newError(mysql.ERWrongValueForVar, mysql.SSClientError, "Variable '%s' can't be set to the value of '%s'", name, val)
}

// singleValue checks and rewrites the session variables whose value stands
// alone (no coupled variable); optimizer_switch merges into current.
var singleValue = map[string]func(current, val string) (string, *Error){
	"sql_mode":         func(_, val string) (string, *Error) { return canonicalSQLMode(val) },
	"time_zone":        func(_, val string) (string, *Error) { return canonicalTimeZone(val) },
	"optimizer_switch": mergeOptimizerSwitch,
}

// sessionValue checks a value for a session variable and returns what to
// store, under the variable's name and those coupled with it.
// current is the session's value before the assignment (for variables such
// as optimizer_switch that a SET changes in part).
func sessionValue(v sysvars.Var, current, val string, null bool) (map[string]string, *Error) {
	name := v.Name
	out := map[string]string{}
	if null {
		// MySQL allows NULL for character_set_results (clients send it to
		// have results unconverted); it reads back as empty.
		if name != "character_set_results" {
			return nil, wrongValue(name, "NULL")
		}
		out[name] = ""
		return out, nil
	}
	switch {
	case strings.HasPrefix(name, "character_set_"):
		cs, err := canonicalCharset(val)
		if err != nil {
			return nil, err
		}
		out[name] = cs
		if coll, ok := charsetPairs[name]; ok {
			out[coll] = charsets[cs]
		}
		return out, nil
	case strings.HasPrefix(name, "collation_"):
		coll, cs, err := canonicalCollation(val)
		if err != nil {
			return nil, err
		}
		out[name] = coll
		for csVar, collVar := range charsetPairs {
			if collVar == name {
				out[csVar] = cs
			}
		}
		return out, nil
	case singleValue[name] != nil:
		s, err := singleValue[name](current, val)
		if err != nil {
			return nil, err
		}
		out[name] = s
		return out, nil
	case name == "transaction_isolation" || name == "tx_isolation":
		level, ok := isolationLevels[strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(val), " ", "-"))]
		if !ok {
			return nil, wrongValue(name, val)
		}
		out[name], out[synonyms[name]] = level, level
		return out, nil
	}
	switch v.Kind {
	case sysvars.KindBool:
		b, ok := normaliseBool(val)
		if !ok {
			return nil, wrongValue(name, val)
		}
		out[name] = b
		if syn, ok := synonyms[name]; ok {
			out[syn] = b
		}
	case sysvars.KindInt:
		if _, ok := integer(val); !ok {
			return nil, newError(mysql.ERWrongTypeForVar, mysql.SSClientError, "Incorrect argument type to variable '%s'", name)
		}
		out[name] = val
	default:
		out[name] = val
	}
	return out, nil
}

// mergeOptimizerSwitch applies "flag=on|off|default,..." to the current
// optimizer_switch, as MySQL does: named flags change, the others stay;
// "default" alone resets all. An unknown flag or state is 1231.
func mergeOptimizerSwitch(current, val string) (string, *Error) {
	type flag struct{ name, state string }
	parse := func(s string) []flag {
		var out []flag
		for _, kv := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(kv, "=")
			out = append(out, flag{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
		return out
	}
	defaults := parse(sysvars.OptimizerSwitchDefault)
	flags := parse(current)
	if len(flags) != len(defaults) {
		flags = parse(sysvars.OptimizerSwitchDefault)
	}
	if strings.EqualFold(strings.TrimSpace(val), "default") {
		return sysvars.OptimizerSwitchDefault, nil
	}
	for _, f := range parse(val) {
		state := strings.ToLower(f.state)
		i := -1
		for k := range flags {
			if strings.EqualFold(flags[k].name, f.name) {
				i = k
			}
		}
		if i < 0 || (state != "on" && state != "off" && state != "default") {
			return "", wrongValue("optimizer_switch", val)
		}
		if state == "default" {
			state = defaults[i].state
		}
		flags[i].state = state
	}
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = f.name + "=" + f.state
	}
	return strings.Join(parts, ","), nil
}

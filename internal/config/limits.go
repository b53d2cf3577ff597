package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	yaml "go.yaml.in/yaml/v3"
)

// Bounds of a config file, checked on the parsed tree before viper sees
// it. viper's key search is quadratic in the number of keys and cubic in
// the nesting depth: a few KiB of nesting 1,600 deep, or 10,000 top-level
// keys, cost it seconds. ssld's own file is 3 levels deep (users[0].privileges)
// with about 40 settings; a my.cnf's [mysqld] shared with mariadbd has a few
// hundred. Within these bounds viper's work stays well under a second
// (1,000 settings: 75 ms; 10,000 accounts in users: 0.3 s).
const (
	// maxConfigDepth is the deepest nesting of mappings and lists; a
	// TOML dotted key or table header counts one level per part.
	maxConfigDepth = 16
	// maxConfigSettings is the number of keys in mappings outside lists
	// (the keys viper indexes); accounts in users: are inside a list.
	maxConfigSettings = 1000
	// maxConfigValues is the number of keys and list items in all,
	// YAML aliases counted once per reference.
	maxConfigValues = 100_000
)

// configFormat is how the file at abs is read, by its extension.
func configFormat(abs string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(abs)); ext {
	case ".yaml", ".yml":
		return "yaml", nil
	case ".json":
		return "json", nil
	case ".toml":
		return "toml", nil
	case ".cnf", ".ini", ".conf":
		return "ini", nil
	default:
		return "", fmt.Errorf("config file %s: unknown format: the name must end in .yaml, .yml, .toml, .json, .cnf, .ini or .conf", abs)
	}
}

// configShape is what the scan learnt about a file: the line of every
// value by its decoded path (users[0].password), so a decoding error can
// name the line without quoting the value.
type configShape struct {
	lines map[string]int
}

// line is the line of the value at path (mapstructure's name of it), or 0.
func (s *configShape) line(path string) int {
	if s == nil {
		return 0
	}
	return s.lines[strings.ToLower(path)]
}

// configLimitError is a file that exceeds one of the bounds.
type configLimitError struct {
	line   int // 0 when the format gives none
	reason string
}

// scanner counts a parsed tree against the bounds.
type scanner struct {
	ctx      context.Context
	shape    *configShape
	settings int
	values   int
}

// step counts one value at depth, inside a list or not, with its key
// (settings count only outside lists).
func (s *scanner) step(depth int, isKey, inList bool, line int) error {
	if depth > maxConfigDepth {
		return &configLimitError{line, fmt.Sprintf("nested deeper than %d levels (the limit)", maxConfigDepth)}
	}
	s.values++
	if s.values > maxConfigValues {
		return &configLimitError{line, fmt.Sprintf("more than %d keys and list items (the limit)", maxConfigValues)}
	}
	if isKey && !inList {
		s.settings++
		if s.settings > maxConfigSettings {
			return &configLimitError{line, fmt.Sprintf("more than %d settings (the limit)", maxConfigSettings)}
		}
	}
	if s.values%4096 == 0 {
		return s.ctx.Err()
	}
	return nil
}

// scanConfig parses raw as format with the parser viper will use and
// checks it against the bounds. Every error names the file and, where the
// parser tells it, the line; none quotes the file's text (a value may be a
// password).
func scanConfig(ctx context.Context, abs, format string, raw []byte) (*configShape, error) {
	s := &scanner{ctx: ctx, shape: &configShape{lines: map[string]int{}}}
	var err error
	switch format {
	case "yaml":
		err = s.yaml(raw)
	case "json":
		var v any
		if err = json.Unmarshal(raw, &v); err == nil {
			err = s.plain(v, "", 0, false)
		} else {
			err = jsonSyntaxError(raw, err)
		}
	case "toml":
		err = s.toml(raw)
	case "ini":
		err = s.ini(raw)
	}
	var le *configLimitError
	var se *configSyntaxError
	switch {
	case err == nil:
		return s.shape, nil
	case errors.As(err, &le):
		return nil, &refusedError{msg: fmt.Sprintf("%s: %s; not read", atLine(abs, le.line), le.reason), limit: le}
	case errors.As(err, &se):
		return nil, fmt.Errorf("%s: cannot parse %s: %s", atLine(abs, se.line), strings.ToUpper(format), se.reason)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("config file %s: reading it did not finish before the reload's deadline (%v)", abs, err)
	default:
		// The INI codec's own findings (they name sections, not values).
		return nil, fmt.Errorf("config file %s: %v", abs, err)
	}
}

// atLine is "config file F line N", or "config file F" when n is 0.
func atLine(abs string, n int) string {
	if n > 0 {
		return fmt.Sprintf("config file %s line %d", abs, n)
	}
	return "config file " + abs
}

// configSyntaxError is a parser's error with its line and a reason that
// quotes nothing of the file.
type configSyntaxError struct {
	line   int
	reason string
}

func (e *configSyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// refusedError is a file the scanner refused at a limit, before any
// decoder read it: its text names the file, the line and the limit, and
// it unwraps to the *configLimitError (what the tests check).
type refusedError struct {
	msg   string
	limit *configLimitError
}

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return e.limit }

func (e *configLimitError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// safeReason is a parser's message without any text of the file: it is
// cut at the first quoted text, colon or code point, after which parsers
// quote the offending text ("unknown anchor '6BB4…' referenced", "missing
// closing key quote from \"`secret\"", "expected newline but got U+0073
// 's'"). A quoted single bracket, comma or colon is the grammar's, and kept
// ("did not find expected ',' or ']'").
func safeReason(msg string) string {
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, "yaml: "), "toml: ")
	msg = yamlLinePrefix.ReplaceAllString(msg, "")
	for _, r := range quotedRewrites {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\'' || c == '"' || c == '`' {
			if i+2 < len(msg) && msg[i+2] == c && strings.IndexByte(",[]{}:", msg[i+1]) >= 0 {
				b.WriteString(msg[i : i+3])
				i += 2
				continue
			}
			break
		}
		if c == ':' || c == '\n' || strings.HasPrefix(msg[i:], "U+") {
			break
		}
		b.WriteByte(c)
	}
	out := strings.TrimSpace(b.String())
	out = strings.TrimSuffix(strings.TrimSuffix(out, " from"), " but got")
	if len(out) > 120 {
		out = out[:120]
	}
	if out == "" {
		return "syntax error"
	}
	return out
}

// quotedRewrites drop the quoted text from messages whose words go on
// after it (the greedy match takes quotes inside the text too).
var quotedRewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`^unknown anchor '.*' referenced$`), "unknown anchor referenced"},
	{regexp.MustCompile(`^mapping key ".*" already defined at line (\d+)$`), "mapping key already defined at line $1"},
	{regexp.MustCompile(`^anchor '.*' value contains itself$`), "anchor value contains itself"},
}

var (
	yamlLinePrefix = regexp.MustCompile(`^(unmarshal errors:\s*)?line \d+: `)
	yamlLine       = regexp.MustCompile(`line (\d+)`)
	yamlAnchor     = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// yaml scans a YAML (or JSON) document through yaml.v3's node tree, the
// parser viper's YAML codec uses. Aliases are followed (and counted) each
// time they are referenced, as viper expands them; an alias of its own
// ancestor stops at the depth bound.
func (s *scanner) yaml(raw []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return yamlSyntaxError(raw, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return s.yamlNode(doc.Content[0], "", 0, false)
}

func (s *scanner) yamlNode(n *yaml.Node, path string, depth int, inList bool) error {
	if _, seen := s.shape.lines[path]; !seen && path != "" {
		s.shape.lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return s.yamlNode(n.Alias, path, depth, inList)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := s.step(depth+1, true, inList, k.Line); err != nil {
				return err
			}
			if k.Tag == "!!merge" || (k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style == 0) {
				// A merge key brings the referenced mapping(s) in at this level.
				if err := s.yamlNode(v, path, depth, inList); err != nil {
					return err
				}
				continue
			}
			if err := s.yamlNode(v, joinPath(path, k.Value), depth+1, inList); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := s.step(depth+1, false, true, c.Line); err != nil {
				return err
			}
			if err := s.yamlNode(c, fmt.Sprintf("%s[%d]", path, i), depth+1, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	key = strings.ToLower(key)
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlSyntaxError turns a yaml.v3 error into a configSyntaxError: the
// line it names (for an unknown anchor, which it names without a line, the
// first line that references it) and its reason without quoted text.
func yamlSyntaxError(raw []byte, err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	} else if m := yamlAnchor.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(raw, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(raw[:i], []byte("\n")) + 1
		}
	}
	return &configSyntaxError{line: line, reason: safeReason(msg)}
}

// toml scans a TOML document with go-toml's parser (viper's TOML codec),
// expression by expression: a table header's parts and a dotted key's
// parts each count one level.
func (s *scanner) toml(raw []byte) error {
	var p unstable.Parser
	p.Reset(raw)
	table := ""
	tableDepth := 0
	arrays := map[string]int{} // [[name]] seen so far, for the index in paths
	for p.NextExpression() {
		e := p.Expression()
		line := 0
		keyLine := func(n *unstable.Node) int {
			if line == 0 {
				it := n.Key()
				if it.Next() && it.Node().Raw.Length > 0 {
					line = p.Shape(it.Node().Raw).Start.Line
				}
			}
			return line
		}
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts := keyParts(e)
			name := strings.Join(parts, ".")
			table, tableDepth = name, len(parts)
			inList := e.Kind == unstable.ArrayTable
			if inList {
				table = fmt.Sprintf("%s[%d]", name, arrays[name])
				arrays[name]++
				tableDepth++
			}
			if err := s.step(tableDepth, true, inList, keyLine(e)); err != nil {
				return err
			}
		case unstable.KeyValue:
			parts := keyParts(e)
			inList := strings.Contains(table, "[")
			depth := tableDepth + len(parts)
			if err := s.step(depth, true, inList, keyLine(e)); err != nil {
				return err
			}
			path := table
			for _, k := range parts {
				path = joinPath(path, k)
			}
			if err := s.tomlValue(e.Value(), path, depth, inList, keyLine(e)); err != nil {
				return err
			}
		}
	}
	if err := p.Error(); err != nil {
		line := 0
		var pe *unstable.ParserError
		if errors.As(err, &pe) && len(pe.Highlight) > 0 {
			line = p.Shape(p.Range(pe.Highlight)).Start.Line
		}
		return &configSyntaxError{line: line, reason: safeReason(err.Error())}
	}
	// What the parser accepts the decoder may still refuse (a key defined
	// twice); viper would then quote it.
	var m map[string]any
	if err := toml.Unmarshal(raw, &m); err != nil {
		var de *toml.DecodeError
		line := 0
		if errors.As(err, &de) {
			line, _ = de.Position()
		}
		return &configSyntaxError{line: line, reason: safeReason(err.Error())}
	}
	return nil
}

func (s *scanner) tomlValue(v *unstable.Node, path string, depth int, inList bool, line int) error {
	if _, seen := s.shape.lines[path]; !seen {
		s.shape.lines[path] = line
	}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			parts := keyParts(kv)
			if err := s.step(depth+len(parts), true, inList, line); err != nil {
				return err
			}
			p := path
			for _, k := range parts {
				p = joinPath(p, k)
			}
			if err := s.tomlValue(kv.Value(), p, depth+len(parts), inList, line); err != nil {
				return err
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			if err := s.step(depth+1, false, true, line); err != nil {
				return err
			}
			if err := s.tomlValue(it.Node(), fmt.Sprintf("%s[%d]", path, i), depth+1, true, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func keyParts(n *unstable.Node) []string {
	var parts []string
	for it := n.Key(); it.Next(); {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// ini scans a my.cnf-style file through the INI codec; its tree is at most
// three levels deep by construction, so only the counts matter. go-ini's
// errors quote the line and name none: the line is found by parsing
// growing prefixes of the file (a file that fails fails from its first bad
// line on).
func (s *scanner) ini(raw []byte) error {
	// go-ini's time is quadratic in the keys of one section (10,000 take it
	// 0.1 s, 30,000 0.8 s): count them line by line first.
	// The same pass notes each key's line, by the path the INI codec
	// gives it: [ssld], [mysqld] and keys before any section at the top,
	// the n-th [user NAME] as users[n].
	keys, users := 0, -1
	prefix := "" // "" for the top, "users[n]." for a user, "-" for an ignored section
	for i, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0 || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			keys = 0
			name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(strings.Trim(string(line), "[]"))), "]")
			switch {
			case name == "ssld" || name == "mysqld":
				prefix = ""
			case strings.HasPrefix(name, "user "):
				users++
				prefix = fmt.Sprintf("users[%d].", users)
			default:
				prefix = "-"
			}
		default:
			if k, _, ok := strings.Cut(string(line), "="); ok && prefix != "-" {
				k = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
				if _, seen := s.shape.lines[prefix+k]; !seen {
					s.shape.lines[prefix+k] = i + 1
				}
			}
			keys++
			if keys > maxConfigSettings {
				return &configLimitError{i + 1, fmt.Sprintf("more than %d settings in one section (the limit)", maxConfigSettings)}
			}
			if err := s.step(1, false, true, i+1); err != nil {
				return err
			}
		}
	}
	s.values = 0
	m := map[string]any{}
	if err := (iniCodec{}).Decode(raw, m); err != nil {
		var se *iniSyntaxError
		if !errors.As(err, &se) {
			return err // the codec's own message: it quotes no value
		}
		return &configSyntaxError{line: iniErrorLine(raw), reason: safeReason(err.Error())}
	}
	return s.plain(m, "", 0, false)
}

// iniErrorLine is the first line n such that the file's first n lines do
// not parse, found by bisection (0 when every prefix parses).
func iniErrorLine(raw []byte) int {
	lines := bytes.SplitAfter(raw, []byte("\n"))
	prefix := func(n int) []byte { return bytes.Join(lines[:n], nil) }
	fails := func(n int) bool { return (iniCodec{}).Decode(prefix(n), map[string]any{}) != nil }
	if !fails(len(lines)) {
		return 0
	}
	lo, hi := 0, len(lines) // fails(hi), and lo == 0 or !fails(lo)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// jsonSyntaxError names the line of a JSON syntax error; encoding/json's
// messages quote single characters at most, cut by safeReason.
func jsonSyntaxError(raw []byte, err error) error {
	var se *json.SyntaxError
	line := 0
	if errors.As(err, &se) && se.Offset <= int64(len(raw)) {
		line = bytes.Count(raw[:se.Offset], []byte("\n")) + 1
	}
	return &configSyntaxError{line: line, reason: safeReason(err.Error())}
}

// plain counts a decoded tree (INI's, JSON's).
func (s *scanner) plain(v any, path string, depth int, inList bool) error {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if err := s.step(depth+1, true, inList, 0); err != nil {
				return err
			}
			if err := s.plain(c, joinPath(path, k), depth+1, inList); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range x {
			if err := s.step(depth+1, false, true, 0); err != nil {
				return err
			}
			if err := s.plain(c, fmt.Sprintf("%s[%d]", path, i), depth+1, true); err != nil {
				return err
			}
		}
	}
	return nil
}

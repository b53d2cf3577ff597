package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSafeReason: parser messages lose every quoted or trailing text of
// the file and keep their own words.
func TestSafeReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"yaml: unknown anchor '6BB4837E' referenced", "unknown anchor referenced"},
		{"yaml: unknown anchor 'ab'cd' referenced", "unknown anchor referenced"},
		{"yaml: line 2: did not find expected ',' or ']'", "did not find expected ',' or ']'"},
		{"yaml: unmarshal errors:\n  line 3: mapping key \"pw\" already defined at line 1", "mapping key already defined at line 1"},
		{"missing closing key quote from \"`s3cret\\n\" to \"\"", "missing closing key quote"},
		{"toml: expected newline but got U+0073 's'", "expected newline"},
		{"invalid character at start of key: s", "invalid character at start of key"},
		{"invalid character 'x' looking for beginning of value", "invalid character"},
		{"'secret'", "syntax error"},
	} {
		assert.Equal(t, tc.want, safeReason(tc.in), tc.in)
	}
}

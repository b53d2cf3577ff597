package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/tlsctx"
)

// TestConfigBoundsRefuseFast: a few KiB of deep or wide config is refused
// before viper sees it, fast, with an error naming the file, the line and
// the limit (viper's key search is cubic in the depth and quadratic in the
// number of keys: the 1,600-deep mapping took it ~11 s).
func TestConfigBoundsRefuseFast(t *testing.T) {
	wide := func(n int, format string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'i'; i++ {
		laughs += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"deep.yaml", "listen: 127.0.0.1:0\nx: " + strings.Repeat("{a: ", 1600) + "1" + strings.Repeat("}", 1600) + "\n",
			[]string{"line 2", "nested deeper than 16 levels (the limit)"}},
		{"deepblock.yaml", "listen: 127.0.0.1:0\n" + func() string {
			var b strings.Builder
			for i := 0; i < 40; i++ {
				b.WriteString(strings.Repeat(" ", i) + "a:\n")
			}
			return b.String()
		}(), []string{"line 18", "nested deeper than 16 levels"}},
		{"dotted.toml", "listen = \"127.0.0.1:0\"\n" + strings.Repeat("a.", 3000) + "a = 1\n",
			[]string{"line 2", "nested deeper than 16 levels (the limit)"}},
		{"table.toml", "listen = \"127.0.0.1:0\"\n\n[" + strings.Repeat("t.", 40) + "t]\nk = 1\n",
			[]string{"line 3", "nested deeper than 16 levels"}},
		{"wide.yaml", wide(10_000, "k%d: v\n"), []string{"line 1001", "more than 1000 settings (the limit)"}},
		{"wide.toml", wide(10_000, "k%d = 1\n"), []string{"line 1001", "more than 1000 settings (the limit)"}},
		{"wide.cnf", "[mysqld]\n" + wide(10_000, "k%d = 1\n"), []string{"line 1002", "more than 1000 settings in one section (the limit)"}},
		{"sections.cnf", wide(1_000, "[user u%d]\nprivileges = SUPER\npassword = x\n") + "[ssld]\n" + wide(600, "a%d = 1\n") + "[mysqld]\n" + wide(600, "b%d = 1\n"),
			[]string{"more than 1000 settings (the limit)"}},
		// The largest files read (1 MiB) are refused as fast.
		{"1mib.yaml", upTo1MiB("", "k%d: 1\n", ""), []string{"line 1001", "more than 1000 settings (the limit)"}},
		{"1mib.toml", upTo1MiB("", "k%d = 1\n", ""), []string{"line 1001", "more than 1000 settings (the limit)"}},
		{"1mib.json", upTo1MiB("{", `"k%d": 1, `, `"z": 1}`), []string{"more than 1000 settings (the limit)"}},
		{"1mib.cnf", upTo1MiB("[client]\n", "k%d = 1\n", ""), []string{"line 1002", "more than 1000 settings in one section"}},
		{"list.yaml", upTo1MiB("x: [", "%d,", "1]\n"), []string{"line 1", "more than 100000 keys and list items (the limit)"}},
		{"laughs.yaml", laughs, []string{"more than 100000 keys and list items (the limit)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.name)
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			start := time.Now()
			_, err := Load(p)
			t.Logf("%s (%d bytes) refused in %v", tc.name, len(tc.body), time.Since(start))
			require.Error(t, err)
			// Refused by the scanner, before viper or a codec decoded the
			// file (a 1,600-deep mapping took viper 20 s, a dotted TOML
			// key 97 s): what keeps the refusal fast on any machine.
			var le *configLimitError
			assert.ErrorAs(t, err, &le, "refused at a limit by the scanner")
			contains(t, err.Error(), append([]string{"config file " + p}, tc.want...)...)
		})
	}
}

// TestConfigBoundsAllowRealFiles: the bounds leave room for what real
// files hold: 2,000 accounts (inside a list), 900 settings, 16 levels.
func TestConfigBoundsAllowRealFiles(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 900; i++ {
		fmt.Fprintf(&b, "x%d: 1\n", i)
	}
	b.WriteString("deep:\n")
	for i := 1; i < 15; i++ {
		fmt.Fprintf(&b, "%sd:\n", strings.Repeat("  ", i))
	}
	fmt.Fprintf(&b, "%sv: 1\n", strings.Repeat("  ", 15)) // the 16th level
	b.WriteString("users:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "  - name: u%d\n    password_hash: \"*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9\"\n    privileges: [SUPER]\n    require_ssl: true\n", i)
	}
	p := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	c, err := Load(p)
	require.NoError(t, err)
	assert.Len(t, c.Users, 2000)
}

// TestConfigParseReleasesReloadSlot: a parse that has not finished by the
// reload's deadline does not keep tlsctx's reload slot: the reload fails
// at its deadline, and the next reload (the file fixed) succeeds while the
// first parse is still running. Before, every later reload failed with
// "cancelled while waiting for another reload" until the parse ended.
func TestConfigParseReleasesReloadSlot(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\n"), 0o600))
	src := NewSource(p, SourceOptions{})
	mgr, err := tlsctx.New(context.Background(), src)
	require.NoError(t, err)

	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	src.mu.Lock()
	src.parse = func(ctx context.Context, abs string) (*File, error) {
		<-stuck // a parse that outlives any deadline
		return parseConfig(ctx, abs)
	}
	src.mu.Unlock()
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\nrole: leaf\n"), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = mgr.Reload(ctx)
	require.Error(t, err)
	assert.Less(t, time.Since(start), configRefusedWithin, "the reload returns at its deadline")
	assert.Contains(t, err.Error(), "deadline")

	src.mu.Lock()
	src.parse = nil // the file is fixed; parses finish again
	src.mu.Unlock()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, err = mgr.Reload(ctx2)
	require.NoError(t, err, "the next reload is not blocked by the first parse")
	assert.Empty(t, mgr.Status().LastError)
}

// configRefusedWithin bounds how long refusing an oversized config may
// take (race detector and a loaded CI machine included); viper took ~11 s
// on the 1,600-deep mapping and minutes on the TOML keys.
const configRefusedWithin = 2 * time.Second

// upTo1MiB is head, then format filled with 0, 1, 2... while the whole
// stays within the 1 MiB a config file may have, then tail.
func upTo1MiB(head, format, tail string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; ; i++ {
		next := fmt.Sprintf(format, i)
		if b.Len()+len(next)+len(tail) > MaxFileSize {
			break
		}
		b.WriteString(next)
	}
	b.WriteString(tail)
	return b.String()
}

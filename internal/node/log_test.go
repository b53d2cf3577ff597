package node_test

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

	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestLogSettings: log_level and log_format in the config file decide the
// daemon's log unless --log-level / --log-format are given; a bad value is
// an error naming the setting.
func TestLogSettings(t *testing.T) {
	tn := nodetest.New(t, "")
	cases := []struct {
		name          string
		file          string // appended to the node's config
		level, format string // the flags
		expectJSON    bool
		expectInfo    bool
		expectedErr   string
	}{
		{name: "defaults", expectInfo: true},
		{name: "json from the file", file: "log_format: json\n", expectJSON: true, expectInfo: true},
		{name: "warn from the file", file: "log_level: warn\n"},
		{name: "flags win", file: "log_level: warn\nlog_format: json\n", level: "info", format: "text", expectInfo: true},
		{name: "bad level", file: "log_level: loud\n", expectedErr: `log_level "loud"`},
		{name: "bad format", file: "log_format: xml\n", expectedErr: `log_format "xml"`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(tn.Dir, fmt.Sprintf("log%d.yaml", i))
			body := strings.Replace(nodetest.ConfigYAML(tc.file), "socket: ssld.sock", fmt.Sprintf("socket: log%d.sock", i), 1)
			require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
			var buf testenv.LogBuffer
			n, err := node.Start(context.Background(), node.Options{Config: cfg, LogOut: &buf, LogLevel: tc.level, LogFormat: tc.format}, nil)
			if tc.expectedErr != "" {
				require.ErrorContains(t, err, tc.expectedErr)
				return
			}
			require.NoError(t, err)
			n.Shutdown(time.Second)
			out := buf.String()
			assert.Equal(t, tc.expectJSON, strings.HasPrefix(out, "{"), out)
			assert.Equal(t, tc.expectInfo, strings.Contains(out, "INFO"), out)
		})
	}
}

package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBuildFrom: the linker's values win; without them the module version
// and Go's vcs.* stamp are used; anything but printable ASCII is dropped
// (the version goes into @@version_comment and a Prometheus label).
func TestBuildFrom(t *testing.T) {
	stamp := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ssld/ssld", Version: "v0.1.1-0.20261205222135-58ffdafa7bf1"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be"},
			{Key: "vcs.time", Value: "2026-12-05T22:21:35Z"}, {Key: "vcs.modified", Value: "true"}}}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ssld/ssld", Version: "(devel)"}}
	for _, tc := range []struct {
		name      string
		set       build
		info      *debug.BuildInfo
		want      build
		wantShort string
	}{
		{"linker", build{Version: "0.1.0", Revision: "abcdef0123456789", Time: "2026-01-02T03:04:05Z"}, stamp,
			build{Version: "0.1.0", Revision: "abcdef0123456789", Time: "2026-01-02T03:04:05Z"}, "abcdef012345"},
		{"vcs stamp", build{}, stamp,
			build{Version: "0.1.1-0.20261205222135-58ffdafa7bf1", Revision: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be",
				Time: "2026-12-05T22:21:35Z", Modified: true}, "58ffdafa7bf1-dirty"},
		{"linker version, vcs stamp", build{Version: "0.1.0"}, stamp,
			build{Version: "0.1.0", Revision: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be", Time: "2026-12-05T22:21:35Z", Modified: true},
			"58ffdafa7bf1-dirty"},
		{"devel", build{}, devel, build{Version: "(devel)"}, ""},
		{"no build info", build{}, nil, build{Version: "(devel)"}, ""},
		{"hostile linker value", build{Version: "0.1.0\n' OR 1 -- \x1b[31m" + strings.Repeat("9", 80)}, nil,
			build{Version: ("0.1.0'OR1--[31m" + strings.Repeat("9", 80))[:64]}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildFrom(tc.set, tc.info)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantShort, got.shortRevision())
			assert.Regexp(t, `^ssld [!-~]+ \(TLS reload daemon\)$`, got.forNode().VersionComment())
		})
	}
}

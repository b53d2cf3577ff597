package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBuildRefuses: what build refuses before it writes anything, each
// with the flag and what it wants.
func TestBuildRefuses(t *testing.T) {
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	for _, tc := range []struct {
		name string
		o    options
		want string
	}{
		{"no binary", options{version: "0.1.0", arch: runtime.GOARCH}, "--binary and --version are required"},
		{"not a version", options{binary: "x", version: "v0.1", arch: runtime.GOARCH}, `--version "v0.1": want MAJOR.MINOR.PATCH`},
		{"a newline in the version", options{binary: "x", version: "0.1.0\nDepends: evil", arch: runtime.GOARCH}, "want MAJOR.MINOR.PATCH"},
		{"unknown arch", options{binary: "x", version: "0.1.0", arch: "mips"}, `--arch "mips": want amd64 or arm64`},
		{"another machine's arch", options{binary: "x", version: "0.1.0", arch: other}, "this machine is " + runtime.GOARCH},
		{"bad date", options{binary: "x", version: "0.1.0", arch: runtime.GOARCH, date: "yesterday"}, `--date "yesterday": want RFC 3339`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.arch == "" {
				t.Skip("no other architecture known for " + runtime.GOARCH)
			}
			_, err := build(tc.o)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tc.want)
			}
		})
	}
}

// TestPackageUnit: every /usr/local/bin/ssld of the unit becomes
// /usr/bin/ssld, and nothing else changes.
func TestPackageUnit(t *testing.T) {
	in := "ExecStartPre=/usr/local/bin/ssld check\nExecStart=/usr/local/bin/ssld serve\n# /usr/local/bin/other\n"
	assert.Equal(t, "ExecStartPre=/usr/bin/ssld check\nExecStart=/usr/bin/ssld serve\n# /usr/local/bin/other\n", string(packageUnit([]byte(in))))
}

package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/tlsctx"
)

// The release build sets these with the linker (scripts/package):
//
//	go build -ldflags "-X main.buildVersion=$(cat VERSION) -X main.buildRevision=... -X main.buildTime=..." ./cmd/ssld
//
// buildModified is "true" for a build of a work tree with uncommitted
// changes. A plain `go build` leaves them empty; the module version
// (`(devel)` for a build inside the checkout) and the VCS stamp Go embeds
// are used instead (Go stamps a build inside a git clone unless
// -buildvcs=false; not one in a linked worktree).
var buildVersion, buildRevision, buildTime, buildModified string

// build describes the running binary.
type build struct {
	Version   string // 0.1.0, or the module version: (devel), v0.1.1-0.2026...
	Revision  string // the VCS commit, "" when unknown
	Time      string // the commit time (RFC 3339), "" when unknown
	Modified  bool   // built from a work tree with uncommitted changes
	GoVersion string
}

// currentBuild describes this binary.
func currentBuild() build {
	info, _ := debug.ReadBuildInfo()
	return buildFrom(build{Version: buildVersion, Revision: buildRevision, Time: buildTime,
		Modified: buildModified == "true", GoVersion: runtime.Version()}, info)
}

// buildFrom completes what the linker set (set) with the build information
// Go embeds (info, may be nil): the module version, and the vcs.* stamp
// when the linker gave no revision.
func buildFrom(set build, info *debug.BuildInfo) build {
	b := set
	if info != nil {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		if b.Revision == "" {
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Revision = s.Value
				case "vcs.time":
					b.Time = s.Value
				case "vcs.modified":
					b.Modified = s.Value == "true"
				}
			}
		}
	}
	b.Version = printable(strings.TrimPrefix(b.Version, "v"), 64)
	if b.Version == "" {
		b.Version = "(devel)"
	}
	b.Revision, b.Time = printable(b.Revision, 64), printable(b.Time, 64)
	return b
}

// printable keeps s to at most n bytes of printable ASCII other than the
// space: the version goes into @@version_comment, a log line and a
// Prometheus label, and a linker flag can put anything in it.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// shortRevision is the revision as `git log --oneline` shows it.
func (b build) shortRevision() string {
	r := b.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if r != "" && b.Modified {
		r += "-dirty"
	}
	return r
}

// forNode is what the node reports of the build.
func (b build) forNode() node.Build {
	return node.Build{Version: b.Version, Revision: b.Revision, ShortRevision: b.shortRevision(),
		GoVersion: b.GoVersion}
}

// availableBackend says which crypto backend crypto_backend: auto resolves
// to on this machine, and its detail (the OpenSSL version, or why Go
// signs): a Manager with no TLS material resolves it exactly as a node does.
func availableBackend() (tlsctx.CryptoBackend, string) {
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{}))
	if err != nil {
		return tlsctx.BackendGo, "unknown: " + err.Error()
	}
	return mgr.CryptoBackend(), mgr.CryptoBackendInfo()
}

// writeVersion prints what `ssld version` and `ssld --version` print.
func writeVersion(w io.Writer) error {
	b := currentBuild()
	backend, detail := availableBackend()
	rev := b.shortRevision()
	if rev == "" {
		rev = "unknown"
	}
	when := b.Time
	if when == "" {
		when = "unknown"
	}
	_, err := fmt.Fprintf(w, "ssld %s\nrevision: %s\ncommit time: %s\ngo: %s %s/%s\ncrypto_backend: %s (%s)\n",
		b.Version, rev, when, b.GoVersion, runtime.GOOS, runtime.GOARCH, backend, detail)
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version and crypto backend of this build",
		Long: `Print what this ssld build is: its version (the VERSION file for a packaged build), the
VCS revision and commit time it was built from, the Go version, and the crypto backend that
crypto_backend: auto uses on this machine (OpenSSL's libcrypto.so.3 when it loads, else Go).
ssld --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(cmd.OutOrStdout())
		},
	}
}

// setVersionFlag gives root a --version flag that prints what `ssld version`
// prints (cobra's own flag, with the text made only when it is asked for).
func setVersionFlag(root *cobra.Command) {
	root.Version = "set" // any non-empty value makes cobra handle --version
	// Declared here so it has no -v (often "verbose") and its own help.
	root.Flags().Bool("version", false, "print the version, VCS revision, Go version and crypto backend (as ssld version)")
	cobra.AddTemplateFunc("ssldVersion", func() string {
		var s strings.Builder
		_ = writeVersion(&s)
		return s.String()
	})
	root.SetVersionTemplate(`{{ssldVersion}}`)
}

// Package e2e holds the whole-binary tests of ssld: child processes,
// fleets, signals, systemd, packages, images, the client and admin tool
// matrix, documents run as written, storms and torn writes. TestMain builds
// ./cmd/ssld once; tests that need a node in-process use internal/nodetest.
// This is the slow tier: `go test ./tlsctx/... ./protocol/... ./internal/...`
// needs no Debian tool and runs without it.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binaryPath is the ssld binary TestMain built.
var binaryPath string

// TestMain builds ./cmd/ssld once, at a fixed path under the temp folder
// per checkout (replaced atomically on each build), so runs do not leave
// one binary each behind and two checkouts never run each other's binary.
// Listing tests (-test.list) builds nothing.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f == nil || f.Value.String() == "" {
		path, err := buildSSLD()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building ssld:", err)
			os.Exit(1)
		}
		binaryPath = path
	}
	os.Exit(m.Run())
}

func buildSSLD() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(wd))
	dir := filepath.Join(os.TempDir(), "ssld-test-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "ssld-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	out, err := exec.Command("go", "build", "-o", tmp.Name(), "github.com/ssld/ssld/cmd/ssld").CombinedOutput()
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "ssld")
	return path, os.Rename(tmp.Name(), path)
}

// ssldBinary is the ssld binary TestMain built.
func ssldBinary(t testing.TB) string {
	t.Helper()
	if binaryPath == "" {
		t.Fatal("no ssld binary: TestMain did not build one")
	}
	return binaryPath
}

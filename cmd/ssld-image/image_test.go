package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// goBuild builds a tiny Go program (main body src) with env into dir and
// returns its path. The image does not care what the binary does; these
// tests check what the tool makes of it.
func goBuild(t *testing.T, dir, out, src string, env ...string) string {
	t.Helper()
	pkg := filepath.Join(dir, out+"-src")
	require.NoError(t, os.MkdirAll(pkg, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/"+out+"\n\ngo 1.22\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "main.go"), []byte("package main\n\nfunc main() {"+src+"}\n"), 0o644))
	bin := filepath.Join(dir, out)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return bin
}

// runTool runs ssld-image's command with args and returns what it printed
// and its error.
func runTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	return out.String(), err
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// TestImageReproducible: the same binary, flags and SOURCE_DATE_EPOCH give
// the same archive, byte for byte; another SOURCE_DATE_EPOCH or another
// binary gives another image.
func TestImageReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := goBuild(t, dir, "one", "", "CGO_ENABLED=0", "GOARCH=amd64")
	other := goBuild(t, dir, "two", "println(2)", "CGO_ENABLED=0", "GOARCH=amd64")
	build := func(bin, out, epoch string) string {
		t.Setenv("SOURCE_DATE_EPOCH", epoch)
		printed, err := runTool(t, "--binary", bin, "--version", "1.2.3", "--out", filepath.Join(dir, out))
		require.NoError(t, err)
		f := strings.Fields(printed)
		require.Len(t, f, 3, printed)
		assert.Equal(t, filepath.Join(dir, out), f[0])
		assert.Equal(t, "localhost/ssld:1.2.3", f[1])
		return f[2]
	}
	a := build(bin, "a.tar", "1700000000")
	// The default --out, its folder created.
	t.Chdir(dir)
	printed, err := runTool(t, "--binary", bin, "--version", "1.2.3")
	require.NoError(t, err)
	assert.Equal(t, "dist/ssld-1.2.3-oci.tar localhost/ssld:1.2.3 "+a+"\n", printed)
	assert.Equal(t, sha(t, filepath.Join(dir, "a.tar")), sha(t, filepath.Join(dir, "dist/ssld-1.2.3-oci.tar")))
	b := build(bin, "b.tar", "1700000000")
	assert.Equal(t, a, b)
	assert.Equal(t, sha(t, filepath.Join(dir, "a.tar")), sha(t, filepath.Join(dir, "b.tar")), "same inputs, same bytes")
	assert.NotEqual(t, a, build(bin, "c.tar", "1700000001"), "SOURCE_DATE_EPOCH is the image's time")
	assert.NotEqual(t, a, build(other, "d.tar", "1700000000"), "another binary")
}

// TestImageContents reads an archive back as `docker load` would
// (manifest.json, the tag, the config, the layers), checks
// the image: entrypoint and default arguments, the non-root user named in
// /etc/passwd and /etc/group, /run/ssld writable by it, the binary at
// /usr/bin/ssld, the ports, the labels and the platform, and reads it
// again as the OCI image layout `podman load` reads (index.json's name
// annotations, every blob's digest).
func TestImageContents(t *testing.T) {
	dir := t.TempDir()
	bin := goBuild(t, dir, "ssld", "", "CGO_ENABLED=0", "GOARCH=amd64")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out := filepath.Join(dir, "ssld-0.1.0-oci.tar")
	_, err := runTool(t, "--binary", bin, "--version", "0.1.0", "--out", out, "--revision", "abc123")
	require.NoError(t, err)

	tag, err := name.NewTag("localhost/ssld:0.1.0")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(out, &tag)
	require.NoError(t, err, "the archive holds localhost/ssld:0.1.0")
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	created := time.Unix(1700000000, 0).UTC()
	assert.Equal(t, "amd64", cf.Architecture)
	assert.Equal(t, "linux", cf.OS)
	assert.True(t, cf.Created.Time.Equal(created), "created %v", cf.Created)
	c := cf.Config
	assert.Equal(t, []string{"/usr/bin/ssld"}, c.Entrypoint)
	assert.Equal(t, []string{"serve", "--config", "/etc/ssld/ssld.yaml"}, c.Cmd)
	assert.Equal(t, "65532:65532", c.User)
	assert.Equal(t, map[string]struct{}{"3307/tcp": {}, "9180/tcp": {}}, c.ExposedPorts)
	assert.Equal(t, "0.1.0", c.Labels["org.opencontainers.image.version"])
	assert.Equal(t, "abc123", c.Labels["org.opencontainers.image.revision"])
	assert.Equal(t, "https://example.com/ssld", c.Labels["org.opencontainers.image.source"], "the binary's module path")
	assert.Contains(t, c.Labels["org.opencontainers.image.description"], "crypto_backend: go")
	for _, h := range cf.History {
		assert.True(t, h.Created.Time.Equal(created))
	}

	want, err := os.ReadFile(bin)
	require.NoError(t, err)
	type entry struct {
		hdr  *tar.Header
		body []byte
	}
	files := map[string]entry{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[strings.TrimSuffix(h.Name, "/")] = entry{h, b}
	}
	require.Contains(t, files, "usr/bin/ssld")
	assert.Equal(t, want, files["usr/bin/ssld"].body)
	assert.Equal(t, int64(0o755), files["usr/bin/ssld"].hdr.Mode)
	assert.Equal(t, 0, files["usr/bin/ssld"].hdr.Uid, "the binary belongs to root: the user cannot replace it")
	assert.Contains(t, string(files["etc/passwd"].body), "\nssld:x:65532:65532:")
	assert.Contains(t, string(files["etc/group"].body), "\nssld:x:65532:")
	run := files["run/ssld"].hdr
	require.NotNil(t, run)
	assert.Equal(t, byte(tar.TypeDir), run.Typeflag)
	assert.Equal(t, 65532, run.Uid)
	assert.Equal(t, int64(0o750), run.Mode)
	for n, e := range files {
		assert.True(t, e.hdr.ModTime.Equal(created), "%s: mtime %v", n, e.hdr.ModTime)
	}
	layers, err := img.Layers()
	require.NoError(t, err)
	assert.Len(t, layers, 2, "a base layer and the binary's")

	// The same archive as an OCI image layout: one manifest, named as
	// podman and containerd read it, for linux/amd64, of the same image.
	oci := filepath.Join(dir, "oci")
	untar(t, out, oci)
	idx, err := layout.ImageIndexFromPath(oci)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	d := im.Manifests[0]
	assert.Equal(t, map[string]string{"io.containerd.image.name": "localhost/ssld:0.1.0", "org.opencontainers.image.ref.name": "0.1.0"}, d.Annotations)
	assert.Equal(t, "linux/amd64", d.Platform.String())
	ociImg, err := idx.Image(d.Digest)
	require.NoError(t, err)
	want1, err := img.ConfigName()
	require.NoError(t, err)
	got1, err := ociImg.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, want1, got1, "both readings give the same image config")
	require.NoError(t, validate.Image(ociImg), "every blob matches its digest")
}

// untar extracts the archive file into dir.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		require.True(t, strings.HasPrefix(p, dir+string(filepath.Separator)), h.Name)
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}

// TestImageRefusesBinary: a binary the image could not run, or flags that
// make no image reference, fail with the flag and the reason; nothing is
// written.
func TestImageRefusesBinary(t *testing.T) {
	dir := t.TempDir()
	static := goBuild(t, dir, "static", "", "CGO_ENABLED=0", "GOARCH=amd64")
	arm := goBuild(t, dir, "arm", "", "CGO_ENABLED=0", "GOARCH=arm64")
	text := filepath.Join(dir, "text")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755))
	dynamic, err := exec.LookPath("true") // coreutils: an ELF with an interpreter
	require.NoError(t, err)
	for _, tc := range []struct {
		name        string
		args        []string
		expectedErr string
	}{
		{"no binary", []string{"--version", "1"}, "--binary is required"},
		{"no version", []string{"--binary", static}, "--version is required"},
		{"not ELF", []string{"--binary", text, "--version", "1"}, "--binary " + text + ": not an ELF executable"},
		{"dynamic", []string{"--binary", dynamic, "--version", "1"}, "dynamically linked"},
		{"other arch", []string{"--binary", arm, "--version", "1"}, "built for GOARCH=arm64, not --arch amd64"},
		{"bad version", []string{"--binary", static, "--version", "1/2"}, `--version "1/2": not an image reference`},
		{"bad name", []string{"--binary", static, "--version", "1", "--name", "Bad Name"}, `--name "Bad Name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".tar")
			_, err := runTool(t, append(tc.args, "--out", out)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.expectedErr)
			assert.NoFileExists(t, out)
		})
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	_, err = runTool(t, "--binary", static, "--version", "1", "--out", filepath.Join(dir, "x.tar"))
	require.ErrorContains(t, err, `SOURCE_DATE_EPOCH="yesterday"`)
}

// TestImageRefusesCgoBuild: a binary built with CGO_ENABLED=1 is refused
// even when it happens to link statically: only a CGO_ENABLED=0 build is
// known to need nothing from the image.
func TestImageRefusesCgoBuild(t *testing.T) {
	testenv.LookPath(t, "gcc")
	dir := t.TempDir()
	cgo := goBuild(t, dir, "cgo", "", "CGO_ENABLED=1", "GOARCH=amd64")
	_, err := runTool(t, "--binary", cgo, "--version", "1", "--out", filepath.Join(dir, "x.tar"))
	require.ErrorContains(t, err, "built with CGO_ENABLED=1")
}

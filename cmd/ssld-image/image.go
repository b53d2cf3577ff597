package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as: a fixed number (Kubernetes' runAsUser, and
// the same as distroless's nonroot) with the name ssld in /etc/passwd, the
// name the systemd unit's user has, so that unix_socket accounts and logs
// read the same in a container as on a host.
const (
	uid      = 65532
	userName = "ssld"
)

// Paths inside the image.
const (
	binaryPath = "/usr/bin/ssld"
	configPath = "/etc/ssld/ssld.yaml"
	socketDir  = "/run/ssld"
)

// Ports the image exposes: the MySQL-wire listener and metrics_listen, as
// deploy/kubernetes/ssld.yaml configures them.
var exposedPorts = []string{"3307/tcp", "9180/tcp"}

// options is what one image is built from.
type options struct {
	binary   string    // a static ssld for arch
	version  string    // the image's tag and org.opencontainers.image.version
	arch     string    // GOARCH of the binary and the image's platform
	name     string    // repository the tag is recorded under
	revision string    // org.opencontainers.image.revision; empty: from the binary, else left out
	source   string    // org.opencontainers.image.source; empty: from the binary's module path
	created  time.Time // every timestamp in the image
}

// binaryFacts is what the image takes from the ssld binary itself.
type binaryFacts struct {
	revision string
	modified bool
	module   string
}

// inspectBinary refuses a binary the image could not run: not an ELF
// executable, one for another architecture, or one that needs a dynamic
// loader (a cgo build: the image has no libc). It returns what the image's
// labels need from the binary's build information.
func inspectBinary(path, arch string) (binaryFacts, error) {
	var facts binaryFacts
	f, err := elf.Open(path)
	if err != nil {
		return facts, fmt.Errorf("--binary %s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return facts, fmt.Errorf("--binary %s: dynamically linked (it needs a loader and libc the image does not have); build it with CGO_ENABLED=0", path)
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return facts, fmt.Errorf("--binary %s: no Go build information: %w", path, err)
	}
	facts.module = info.Main.Path
	goarch := ""
	for _, s := range info.Settings {
		switch s.Key {
		case "GOARCH":
			goarch = s.Value
		case "CGO_ENABLED":
			if s.Value != "0" {
				return facts, fmt.Errorf("--binary %s: built with CGO_ENABLED=%s; the image needs a static CGO_ENABLED=0 build", path, s.Value)
			}
		case "vcs.revision":
			facts.revision = s.Value
		case "vcs.modified":
			facts.modified = s.Value == "true"
		}
	}
	if goarch != arch {
		return facts, fmt.Errorf("--binary %s: built for GOARCH=%s, not --arch %s", path, goarch, arch)
	}
	return facts, nil
}

// reference is the name and tag the image is recorded under.
func (o options) reference() (name.Tag, error) {
	t, err := name.NewTag(o.name+":"+o.version, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("--name %q / --version %q: not an image reference: %w", o.name, o.version, err)
	}
	return t, nil
}

// build returns the image: a base layer (users, groups, folders) and a
// layer with the binary, on no base image. Everything in it is a function
// of the options and the binary's bytes, so the same inputs give the same
// digests.
func build(o options) (v1.Image, error) {
	if o.version == "" {
		return nil, errors.New("--version is required (e.g. the VERSION file's content)")
	}
	if _, err := o.reference(); err != nil {
		return nil, err
	}
	facts, err := inspectBinary(o.binary, o.arch)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, fmt.Errorf("--binary: %w", err)
	}
	revision := o.revision
	if revision == "" && !facts.modified {
		revision = facts.revision
	}
	source := o.source
	if source == "" && facts.module != "" {
		source = "https://" + facts.module
	}

	base, err := layer(o.created, baseFiles())
	if err != nil {
		return nil, err
	}
	binLayer, err := layer(o.created, []file{
		{path: "usr/", mode: 0o755, dir: true},
		{path: "usr/bin/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, body: bin},
	})
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.created}, CreatedBy: "ssld-image: /etc/passwd, /etc/group, " + socketDir, Comment: "base"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.created}, CreatedBy: "ssld-image: " + binaryPath, Comment: "ssld " + o.version}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = o.arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: o.created}
	labels := map[string]string{
		"org.opencontainers.image.title":       "ssld",
		"org.opencontainers.image.description": "TLS certificate reloads over the MySQL wire protocol (crypto_backend: go)",
		"org.opencontainers.image.version":     o.version,
	}
	if revision != "" {
		labels["org.opencontainers.image.revision"] = revision
	}
	if source != "" {
		labels["org.opencontainers.image.source"] = source
	}
	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{binaryPath},
		Cmd:          []string{"serve", "--config", configPath},
		Env:          []string{"PATH=/usr/bin"},
		WorkingDir:   "/",
		ExposedPorts: ports,
		Labels:       labels,
		StopSignal:   "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// baseFiles are the image's files other than the binary.
func baseFiles() []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:ssld:/nonexistent:/sbin/nologin\n", userName, uid, uid)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)
	return []file{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/group", mode: 0o644, body: []byte(group)},
		{path: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{path: "etc/ssld/", mode: 0o755, dir: true},
		{path: "run/", mode: 0o755, dir: true},
		// The Unix socket's folder, writable by the user only.
		{path: strings.TrimPrefix(socketDir, "/") + "/", mode: 0o750, dir: true, owner: uid},
		{path: "tmp/", mode: 0o1777, dir: true},
	}
}

// file is one entry of a layer.
type file struct {
	path  string
	mode  int64
	dir   bool
	owner int // uid and gid
	body  []byte
}

// layer is a tar of files, in the order given, every timestamp set to
// created.
func layer(created time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.path, Mode: f.mode, Uid: f.owner, Gid: f.owner,
			ModTime: created, Typeflag: tar.TypeReg, Size: int64(len(f.body)),
			Format: tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

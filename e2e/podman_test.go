package e2e

// The container image under podman: the harness shared by image_test.go
// and kube_play_test.go. Every podman here runs with a storage, run folder
// and containers.conf of its own, so a test never touches the machine's
// podman images or containers, and removes all it made when it ends.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

// podmanConf is the containers.conf of the tests' podman. This machine's
// cgroups are hybrid (v1 controllers, v2 unified): crun refuses them, runc
// runs; the cgroupfs manager needs no systemd; the default nofile/nproc
// ulimits are refused by the kernel here, so none are set. A pod's infra
// container runs pauseImage (podman would otherwise build its own pause
// image from catatonit, which Debian's podman only recommends).
const podmanConf = `[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
infra_image = "` + pauseRef + `"
`

// podmanCmdTimeout bounds every podman command.
const podmanCmdTimeout = 2 * time.Minute

// testPodman runs podman on storage of its own under dir.
type testPodman struct {
	t    *testing.T
	dir  string
	bin  string
	args []string
	env  []string
}

// newPodman returns a podman with private storage (--root, --runroot,
// --tmpdir under a fresh folder) and containers.conf (CONTAINERS_CONF).
// Cleanup removes every pod, container, volume and image it made, then the
// folder. podman and runc are required under CI=true.
func newPodman(t *testing.T) *testPodman {
	t.Helper()
	bin := testenv.LookPath(t, "podman")
	testenv.LookPath(t, "runc")
	// A short folder: conmon's attach socket lives under --runroot, and Unix
	// socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "pm")
	require.NoError(t, err)
	conf := filepath.Join(dir, "containers.conf")
	require.NoError(t, os.WriteFile(conf, []byte(podmanConf), 0o644))
	p := &testPodman{
		t: t, dir: dir, bin: bin,
		args: []string{
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			"--runtime", "runc", "--cgroup-manager", "cgroupfs",
		},
		env: append(os.Environ(), "CONTAINERS_CONF="+conf),
	}
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"pod", "rm", "--all", "--force", "--time", "0"},
			{"rm", "--all", "--force", "--time", "0"},
			{"volume", "rm", "--all", "--force"},
			{"secret", "rm", "--all"},
			{"rmi", "--all", "--force"},
		} {
			if out, err := p.run(args...); err != nil {
				t.Logf("cleanup: podman %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: podman storage %s: %v", dir, err)
		}
	})
	return p
}

// run runs podman with args, bounded by podmanCmdTimeout, and returns its
// combined output.
func (p *testPodman) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), podmanCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append(append([]string{}, p.args...), args...)...)
	cmd.Env = p.env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (after %v)", ctx.Err(), podmanCmdTimeout)
	}
	return string(out), err
}

// must runs podman with args and fails the test when it fails.
func (p *testPodman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	require.NoError(p.t, err, "podman %s:\n%s", strings.Join(args, " "), out)
	return out
}

var (
	imageOnce sync.Once
	imageTar  string
	imageRef  string
	imageID   string
	imageErr  error
)

// imageDocBlocks returns the sh blocks of docs/operations.md's "Container
// image" section: the build lines, the load/run/exec lines and the push
// line.
func imageDocBlocks(t *testing.T) [][]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(doc), "\n## Container image\n")
	require.True(t, ok, "docs/operations.md has no Container image section")
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		blocks = append(blocks, strings.Split(strings.TrimSpace(m[1]), "\n"))
	}
	require.Len(t, blocks, 3, "docs/operations.md, Container image: the build, run and push blocks")
	return blocks
}

// docCmd turns a doc line "[VAR=value ...] command args..." (no quoting)
// into a command; dist/ becomes dist, the command runs in the repository.
func docCmd(t *testing.T, line, dist string) *exec.Cmd {
	t.Helper()
	f := strings.Fields(strings.ReplaceAll(line, "dist/", dist+"/"))
	var env []string
	for len(f) > 0 && strings.Contains(f[0], "=") {
		env, f = append(env, f[0]), f[1:]
	}
	require.NotEmpty(t, f, line)
	cmd := exec.Command(f[0], f[1:]...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// ssldImage runs the build lines of docs/operations.md ("Container image":
// a static ssld, then cmd/ssld-image) as written, with dist/ pointed at a
// per-checkout folder under the temp folder, once per test binary. It
// returns the archive and the reference the tool printed
// (localhost/ssld:VERSION).
func ssldImage(t *testing.T) (archive, ref string) {
	t.Helper()
	version := imageVersion(t)
	build := imageDocBlocks(t)[0]
	require.Len(t, build, 2, "docs/operations.md: the two build lines")
	require.Contains(t, build[1], "--version "+version+" ", "the doc builds the VERSION file's version")
	imageOnce.Do(func() {
		wd, _ := os.Getwd()
		sum := sha256.Sum256([]byte(wd))
		dist := filepath.Join(os.TempDir(), "ssld-image-test-"+hex.EncodeToString(sum[:6]))
		if imageErr = os.MkdirAll(dist, 0o755); imageErr != nil {
			return
		}
		var out []byte
		for _, line := range build {
			var stderr bytes.Buffer
			cmd := docCmd(t, line, dist)
			cmd.Stderr = &stderr
			if out, imageErr = cmd.Output(); imageErr != nil {
				imageErr = fmt.Errorf("%s: %v\n%s%s", line, imageErr, out, stderr.Bytes())
				return
			}
		}
		// The tool's line: "ARCHIVE REFERENCE IMAGE-ID".
		f := strings.Fields(string(out))
		if len(f) != 3 || !strings.HasPrefix(f[0], dist+"/ssld-"+version+"-oci.tar") {
			imageErr = fmt.Errorf("ssld-image printed %q, want the archive, its reference and its ID", out)
			return
		}
		imageTar, imageRef, imageID = f[0], f[1], f[2]
	})
	require.NoError(t, imageErr)
	return imageTar, imageRef
}

// imageVersion is the version the image is built with: the VERSION file's
// content, or, before the repository has one, the tag of the image that
// deploy/kubernetes/ssld.yaml names.
func imageVersion(t *testing.T) string {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION")); err == nil {
		return strings.TrimSpace(string(b))
	}
	_, tag, ok := strings.Cut(manifestImages(t)["ssld.yaml"][0], ":")
	require.True(t, ok, "deploy/kubernetes/ssld.yaml: the image has no tag")
	return tag
}

// manifestImages returns the container images of every Pod template in
// deploy/kubernetes/*.yaml, by file name.
func manifestImages(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy/kubernetes/*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	type podSpec struct {
		Containers     []struct{ Image string } `yaml:"containers"`
		InitContainers []struct{ Image string } `yaml:"initContainers"`
	}
	images := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc struct {
				Spec struct {
					Template struct {
						Spec podSpec `yaml:"spec"`
					} `yaml:"template"`
					JobTemplate struct {
						Spec struct {
							Template struct {
								Spec podSpec `yaml:"spec"`
							} `yaml:"template"`
						} `yaml:"spec"`
					} `yaml:"jobTemplate"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); err == io.EOF {
				break
			} else {
				require.NoError(t, err, f)
			}
			for _, s := range []podSpec{doc.Spec.Template.Spec, doc.Spec.JobTemplate.Spec.Template.Spec} {
				for _, c := range append(s.Containers, s.InitContainers...) {
					images[filepath.Base(f)] = append(images[filepath.Base(f)], c.Image)
				}
			}
		}
	}
	return images
}

// servedSerial opens a MySQL connection to addr, asks for TLS (greeting,
// SSL request) and verifies the certificate against ca for the name
// localhost; it returns the serial of the certificate it is served ("" and
// the error when any step fails).
func servedSerial(addr string, ca *x509.Certificate) (string, error) {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, _, err := wiretest.ReadPacket(c); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	if _, err := c.Write(wiretest.Packet(1, wiretest.SSLRequest())); err != nil {
		return "", err
	}
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	return serialOf(tc.ConnectionState().PeerCertificates[0]), nil
}

// waitServed polls addr until it serves the certificate with serial want,
// for at most within; it fails with the last error and logs.
func waitServed(t *testing.T, addr string, ca *x509.Certificate, want string, within time.Duration, logs func() string) {
	t.Helper()
	var got string
	var err error
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got, err = servedSerial(addr, ca); err == nil && got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after %v %s serves serial %q (err %v), want %q; logs:\n%s", within, addr, got, err, want, logs())
}

// pauseRef is the infra image of the tests' pods.
const pauseRef = "localhost/ssld-test-pause:1"

// loadPauseImage builds a pod infra image (a static program that waits for
// SIGTERM or SIGINT) with go-containerregistry, as cmd/ssld-image builds
// ssld's, and loads it into p as pauseRef.
func (p *testPodman) loadPauseImage() {
	t := p.t
	t.Helper()
	src := filepath.Join(p.dir, "pause-src")
	require.NoError(t, os.MkdirAll(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module pause\n\ngo 1.22\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`), 0o644))
	bin := filepath.Join(p.dir, "pause")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	body, err := os.ReadFile(bin)
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err = tw.Write(body)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	require.NoError(t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Config.Entrypoint = []string{"/pause"}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	tag, err := name.NewTag(pauseRef)
	require.NoError(t, err)
	archive := filepath.Join(p.dir, "pause.tar")
	require.NoError(t, tarball.WriteToFile(archive, tag, img))
	p.must("load", "--input", archive)
}

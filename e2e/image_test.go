package e2e

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/protocol"
)

// imageGID is the gid of the image's ssld user (cmd/ssld-image): files a
// test mounts into a container are group-readable by it.
const imageGID = 65532

// TestImagePodmanRun: the image cmd/ssld-image builds from a static ssld,
// loaded with `podman load` (under the name the tool printed), run with
// `podman run --network host` on its default command (serve --config
// /etc/ssld/ssld.yaml) and a config and certificates bind-mounted at
// /etc/ssld: it serves them on 127.0.0.1, reloads renewed files on
// SSL_RELOAD over the wire (go-sql-driver, TLS) and serves the new serial,
// reloads again with `ssld reload` run inside the container over the Unix
// socket in /run/ssld as the image's user (a unix_socket account: the uid
// has the name ssld), logs that it signs in Go, and stops on SIGTERM with
// exit code 0.
func TestImagePodmanRun(t *testing.T) {
	p := newPodman(t)
	archive, ref := ssldImage(t)
	assert.Equal(t, "localhost/ssld:"+imageVersion(t), ref)
	blocks := imageDocBlocks(t)
	run, push := blocks[1], blocks[2]
	require.Len(t, run, 3, "docs/operations.md: the load, run and exec lines")
	// podman LINE, as written, with the test's podman flags, archive and
	// config folder.
	doc := func(line string, repl ...string) string {
		t.Helper()
		f := strings.Fields(strings.NewReplacer(repl...).Replace(line))
		require.Equal(t, "podman", f[0], line)
		return p.must(f[1:]...)
	}
	require.Equal(t, []string{"podman push " + ref + " registry.example.com/ssld:" + imageVersion(t)}, push,
		"the push line (shown, not run: no registry is reachable here)")

	out := doc(run[0], "dist/ssld-"+imageVersion(t)+"-oci.tar", archive)
	require.Contains(t, out, "Loaded image: "+ref)
	id := strings.TrimSpace(p.must("image", "inspect", "--format", "{{.Id}}", ref))
	assert.Equal(t, imageID, "sha256:"+id, "podman's image ID is the one ssld-image printed")

	dir, err := os.MkdirTemp("", "ssldimg")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The folder is mounted at /etc/ssld: the image's user reads it through
	// its group.
	require.NoError(t, os.Chmod(dir, 0o750))
	require.NoError(t, os.Chown(dir, 0, imageGID))
	certs := filepath.Join(dir, "certs")
	require.NoError(t, os.Mkdir(certs, 0o750))
	require.NoError(t, os.Chown(certs, 0, imageGID))

	ca := pkitest.MustCA(t, "image CA")
	write := func() string {
		leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
		for name, b := range map[string][]byte{"server.crt": leaf.CertPEM, "server.key": leaf.KeyPEM} {
			path := filepath.Join(certs, name)
			require.NoError(t, pki.WriteFile(path, b, 0o640))
			require.NoError(t, os.Chown(path, 0, imageGID))
		}
		return serialOf(leaf.Cert)
	}
	first := write()
	addr, metrics := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(`listen: %s
socket: /run/ssld/ssld.sock
metrics_listen: %s
ssl_cert: certs/server.crt
ssl_key: certs/server.key
users:
  - name: admin
    password_hash: "%s"
    privileges: [SUPER]
    require_ssl: true
  - {name: ssld, plugin: unix_socket, privileges: [SUPER]}
`, addr, metrics, protocol.NativePasswordHash(adminPW))
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(conf), 0o640))
	require.NoError(t, os.Chown(cfg, 0, imageGID))

	name := "ssld"
	require.Contains(t, run[1], "-v /etc/ssld:/etc/ssld:ro "+ref)
	doc(run[1], "-v /etc/ssld:", "-v "+dir+":")
	logs := func() string { out, _ := p.run("logs", name); return out }
	waitServed(t, addr, ca.Cert, first, 30*time.Second, logs)

	// SSL_RELOAD over the wire, after the files were renewed.
	second := write()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	dsn := (&mysql.Config{User: "admin", Passwd: adminPW, Net: "tcp", Addr: net.JoinHostPort(host, port),
		TLSConfig: nodetest.TLSConfigName(t, ca.Cert, nil), AllowNativePasswords: true, Timeout: 5 * time.Second}).FormatDSN()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("SSL_RELOAD")
	require.NoError(t, err, "SSL_RELOAD; logs:\n%s", logs())
	got, err := servedSerial(addr, ca.Cert)
	require.NoError(t, err)
	assert.Equal(t, second, got, "a new connection after SSL_RELOAD gets the renewed certificate")
	var varName, served string
	require.NoError(t, db.QueryRow("SHOW VARIABLES LIKE 'ssl_server_serial'").Scan(&varName, &served))
	assert.Equal(t, second, served)

	// ssld reload inside the container: the config's socket, as the image's
	// user, by name.
	third := write()
	out = doc(run[2])
	got, err = servedSerial(addr, ca.Cert)
	require.NoError(t, err)
	assert.Equal(t, third, got, "after ssld reload in the container: %s", out)

	out = p.must("exec", name, "ssld", "status", "--config", "/etc/ssld/ssld.yaml")
	assert.Contains(t, out, third)
	assert.Contains(t, logs(), "crypto_backend=go", "the image's static build signs in Go")
	// The unix_socket login found the peer uid's name (the image's
	// /etc/passwd) and the reload is logged under it.
	assert.Contains(t, logs(), `trigger="sql ssld@localhost"`)

	p.must("stop", "--time", "10", name)
	state := strings.TrimSpace(p.must("inspect", "--format", "{{.State.ExitCode}}", name))
	assert.Equal(t, "0", state, "ssld stops on SIGTERM with exit code 0; logs:\n%s", logs())
}

// TestManifestImageVersion: every Kubernetes manifest runs the image by the
// name cmd/ssld-image tags it with, localhost/ssld:VERSION, VERSION being
// the content of the repository's VERSION file.
func TestManifestImageVersion(t *testing.T) {
	images := manifestImages(t)
	require.NotEmpty(t, images)
	var tags []string
	for file, list := range images {
		for _, img := range list {
			repo, tag, ok := strings.Cut(img, ":")
			assert.True(t, ok, "%s: image %q has no tag", file, img)
			assert.Equal(t, "localhost/ssld", repo, "%s: image %q", file, img)
			tags = append(tags, tag)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	if os.IsNotExist(err) {
		t.Skipf("VERSION not found at the repository root (%s): the manifests' tags %v cannot be compared with it",
			filepath.Join(repoRoot(t), "VERSION"), tags)
	}
	require.NoError(t, err)
	version := strings.TrimSpace(string(b))
	for _, tag := range tags {
		assert.Equal(t, version, tag, "the manifests' image tag is the VERSION file's content")
	}
}

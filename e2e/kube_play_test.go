package e2e

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// kubeForTest is deploy/kubernetes/ssld.yaml changed only as a pod on this
// machine needs, each change applied exactly once (the test fails when the
// manifest no longer has the text it replaces):
//   - the pod gets hostNetwork: true, and the ConfigMap's listen and
//     metrics_listen go from 0.0.0.0:3307 and 0.0.0.0:9180 to free ports
//     on 127.0.0.1: tests serve and connect on loopback only (a pod network
//     would put the pod on a private-range bridge address, and change the
//     host's firewall rules);
//   - the container's ports: list goes: podman 4.3 refuses port mappings on
//     the host's network ("PortMappings can only be used with Bridge or
//     slirp4netns networking").
//
// The image, the args, the security contexts, the volumes and the probes
// stay as shipped.
func kubeForTest(t *testing.T, manifest, listen, metrics string) string {
	t.Helper()
	for _, r := range []struct{ old, new string }{
		{"listen: 0.0.0.0:3307\n", "listen: " + listen + "\n"},
		{"metrics_listen: 0.0.0.0:9180\n", "metrics_listen: " + metrics + "\n"},
		{"    spec:\n      automountServiceAccountToken: false\n", "    spec:\n      hostNetwork: true\n      automountServiceAccountToken: false\n"},
		{"          ports:\n            - {name: mysql, containerPort: 3307}\n            - {name: metrics, containerPort: 9180}\n", ""},
	} {
		require.Equal(t, 1, strings.Count(manifest, r.old), "deploy/kubernetes/ssld.yaml: %q", r.old)
		manifest = strings.Replace(manifest, r.old, r.new, 1)
	}
	return manifest
}

// tlsSecretYAML is a kubernetes.io/tls Secret named ssld-tls, as kubectl
// create secret tls writes it.
func tlsSecretYAML(l *pki.Leaf) string {
	b64 := base64.StdEncoding.EncodeToString
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssld-tls\ntype: kubernetes.io/tls\ndata:\n" +
		"  tls.crt: " + b64(l.CertPEM) + "\n  tls.key: " + b64(l.KeyPEM) + "\n"
}

// TestImageKubePlay: `podman kube play` of deploy/kubernetes/ssld.yaml
// (changed only as kubeForTest says) with a kubernetes.io/tls Secret
// named ssld-tls in the same file: the image runs as the Deployment's pod
// (non-root, read-only root file system, the ConfigMap and the Secret
// mounted as folders), serves the Secret's certificate, answers the probes'
// /healthz, and serves a renewed certificate written into the Secret's
// mounted folder in the kubelet's ..data layout once watch: true has
// reloaded it.
//
// What podman cannot do here, and what the test does instead:
//   - podman 4.3.1 writes each of a Secret's data values into the volume as
//     the base64 text the Secret holds, not decoded (and writes no file for
//     a stringData value), so its files are not PEM and ssld starts
//     degraded, refusing TLS with the reason. (It also crashes, a nil
//     pointer in VolumeFromSecret, on a Secret volume without optional:,
//     which deploy/kubernetes/ssld.yaml therefore spells out.) The test checks that the volume holds exactly the Secret's
//     values as podman wrote them, then writes the decoded files into the
//     same volume, from the host, as the kubelet does (timestamped folder,
//     ..data symlink swap, tls.crt -> ..data/tls.crt, group fsGroup): ssld's
//     watcher repairs the degraded start with no restart. Should podman
//     write PEM, that step is skipped and the first certificate is served
//     as podman wrote it.
//   - Nothing updates a Secret volume in place under podman (there is no
//     kubelet): the renewal is a second ..data swap written into the volume
//     from the host, which is the kubelet's write, not the API's.
//   - The probes are not run by podman (it turns a liveness probe into a
//     healthcheck started by systemd timers, which need a systemd): the
//     test GETs /healthz itself.
func TestImageKubePlay(t *testing.T) {
	p := newPodman(t)
	archive, ref := ssldImage(t)
	p.must("load", "--input", archive)
	p.loadPauseImage()
	images := manifestImages(t)["ssld.yaml"]
	require.Equal(t, []string{ref}, images, "deploy/kubernetes/ssld.yaml runs the image cmd/ssld-image tags")

	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/kubernetes/ssld.yaml"))
	require.NoError(t, err)
	addr, metrics := freeAddr(t), freeAddr(t)
	ca := pkitest.MustCA(t, "kube CA")
	first := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	play := filepath.Join(p.dir, "play")
	require.NoError(t, os.Mkdir(play, 0o755))
	file := filepath.Join(play, "ssld.yaml")
	require.NoError(t, os.WriteFile(file, []byte(tlsSecretYAML(first)+"---\n"+kubeForTest(t, string(raw), addr, metrics)), 0o600))
	// --build=false: kube play would otherwise look for a folder named
	// after the image in its working folder, to build it from.
	out, err := p.run("kube", "play", "--build=false", file)
	require.NoError(t, err, "podman kube play:\n%s", out)
	ctr := "ssld-pod-0-ssld"
	logs := func() string { out, _ := p.run("logs", ctr); return out }

	user := strings.TrimSpace(p.must("inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", ctr))
	assert.Equal(t, "65532:65532 true", user, "runAsUser/runAsGroup and readOnlyRootFilesystem")

	mount := strings.TrimSpace(p.must("volume", "inspect", "--format", "{{.Mountpoint}}", "ssld-tls"))
	vol := &testenv.SecretVolume{Dir: mount, GID: 65532}
	crt, err := os.ReadFile(filepath.Join(mount, "tls.crt"))
	require.NoError(t, err, "the Secret's volume")
	if !bytes.Equal(crt, first.CertPEM) {
		require.Equal(t, base64.StdEncoding.EncodeToString(first.CertPEM), string(crt),
			"podman wrote the Secret's tls.crt neither as PEM nor as the base64 text of its data")
		// The degraded start names the reason...
		testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(logs(), "ssld started degraded") },
			"no degraded start logged:\n%s", logs())
		assert.Contains(t, logs(), `ssl_cert \"/etc/ssld/tls/tls.crt\": no PEM data found`)
		// ... and the Secret's decoded files, as the kubelet writes them,
		// repair it through the watcher.
		vol.Write(t, map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM})
		t.Log("podman wrote the Secret's values base64-encoded; published them decoded in the ..data layout")
	}
	waitServed(t, addr, ca.Cert, serialOf(first.Cert), 60*time.Second, logs)
	code, _ := testenv.HTTPGet(t, "http://"+metrics+"/healthz")
	assert.Equal(t, http.StatusOK, code, "the readiness probe's /healthz")

	// The renewal: the kubelet's ..data swap into the mounted folder.
	renewed := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	vol.Write(t, map[string][]byte{"tls.crt": renewed.CertPEM, "tls.key": renewed.KeyPEM})
	waitServed(t, addr, ca.Cert, serialOf(renewed.Cert), 60*time.Second, logs)
	assert.Contains(t, logs(), "trigger=watch", "the watcher reloaded it")
	code, _ = testenv.HTTPGet(t, "http://"+metrics+"/healthz")
	assert.Equal(t, http.StatusOK, code)

	out = p.must("kube", "down", file)
	assert.Contains(t, out, "Pods stopped:")
}

package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestKubernetesConfigMapServes: the ssld.yaml of deploy/kubernetes/ssld.yaml,
// with its mount paths pointed at a scratch folder and its addresses at
// 127.0.0.1:0, starts a node from a Secret-shaped folder without ca.crt
// (kubelet layout: ..data symlink swap), answers /healthz with 200 (the
// probes), and follows a renewed Secret (watch: true). The manifests
// themselves are validated against the Kubernetes API in
// deploy/kubernetes/validate.
func TestKubernetesConfigMapServes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/kubernetes/ssld.yaml"))
	require.NoError(t, err)
	var conf string
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		if doc.Kind == "ConfigMap" {
			conf = doc.Data["ssld.yaml"]
		}
	}
	require.NotEmpty(t, conf)

	dir, err := os.MkdirTemp("", "ssldk8s")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	tlsDir := filepath.Join(dir, "tls")
	ca := pkitest.MustCA(t, "k8s CA")
	secret := &testenv.SecretVolume{Dir: tlsDir}
	writeSecret := func() string {
		leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
		secret.Write(t, map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM})
		return serialOf(leaf.Cert)
	}
	first := writeSecret()

	conf = strings.NewReplacer(
		"0.0.0.0:3307", "127.0.0.1:0", "0.0.0.0:9180", "127.0.0.1:0",
		"/etc/ssld/tls", tlsDir, "/run/ssld", dir,
	).Replace(conf)
	cfgPath := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(conf), 0o600))
	parsed, err := config.Load(cfgPath)
	require.NoError(t, err)
	assert.Empty(t, parsed.UnknownKeys(), "every key of the ConfigMap is one ssld reads")
	n, err := node.Start(context.Background(), node.Options{Config: cfgPath}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { n.Shutdown(time.Second) })
	require.Equal(t, first, n.TLS().Current("client").Serial())

	code, _ := testenv.HTTPGet(t, "http://"+n.MetricsAddr().String()+"/healthz")
	assert.Equal(t, http.StatusOK, code, "the probes' /healthz")

	renewed := writeSecret()
	testenv.Eventually(t, 15*time.Second, func() bool { return n.TLS().Current("client").Serial() == renewed }, "a renewed Secret is served (watch: true)")
}

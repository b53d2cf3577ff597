// Package validate checks the manifests in deploy/kubernetes against the
// Kubernetes API types (k8s.io/api) with strict decoding: an unknown or
// misspelt field, a wrong type or an unknown kind fails. It is a module of
// its own so that ssld's go.mod does not carry the Kubernetes API.
package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

type object struct {
	file string
	kind string
	obj  any
}

// load strictly decodes every document of every deploy/kubernetes/*.yaml.
func load(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("../*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	var out []object
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/Secret":
				obj = &corev1.Secret{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "batch/v1/Job":
				obj = &batchv1.Job{}
			default:
				t.Fatalf("%s document %d: kind %s/%s is not validated here; add it", f, i, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, tm.Kind, err)
			}
			out = append(out, object{file: filepath.Base(f), kind: tm.Kind, obj: obj})
		}
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

func podSpecs(objs []object) map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			out[o.file+" Deployment "+x.Name] = &x.Spec.Template.Spec
		case *batchv1.Job:
			out[o.file+" Job "+x.Name] = &x.Spec.Template.Spec
		}
	}
	return out
}

// TestManifestsDecodeStrictly: every document is a known kind and decodes
// with no unknown field.
func TestManifestsDecodeStrictly(t *testing.T) {
	objs := load(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in deploy/kubernetes", k)
		}
	}
}

// TestOneImageNoSubPath: one image name across every manifest, and no
// subPath mount (subPath mounts never receive ConfigMap/Secret updates).
func TestOneImageNoSubPath(t *testing.T) {
	images := map[string][]string{}
	for name, ps := range podSpecs(load(t)) {
		for _, c := range append(append([]corev1.Container{}, ps.InitContainers...), ps.Containers...) {
			images[c.Image] = append(images[c.Image], name+"/"+c.Name)
			for _, m := range c.VolumeMounts {
				if m.SubPath != "" || m.SubPathExpr != "" {
					t.Errorf("%s container %s mounts %s with subPath: it would never see updates", name, c.Name, m.MountPath)
				}
			}
		}
	}
	if len(images) != 1 {
		t.Errorf("want one image name everywhere, got %v", images)
	}
}

// TestSSLDDeployment: the node runs as non-root with a read-only root file
// system and no capabilities, has resources and readiness on /healthz and liveness on /livez, mounts
// its config folder and Secret so that updates arrive, and the Service
// reaches its named ports.
func TestSSLDDeployment(t *testing.T) {
	objs := load(t)
	var dep *appsv1.Deployment
	var svc *corev1.Service
	var cm *corev1.ConfigMap
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			if x.Name == "ssld" {
				dep = x
			}
		case *corev1.Service:
			if x.Name == "ssld" {
				svc = x
			}
		case *corev1.ConfigMap:
			if x.Name == "ssld-config" {
				cm = x
			}
		}
	}
	if dep == nil || svc == nil || cm == nil {
		t.Fatalf("want Deployment ssld, Service ssld and ConfigMap ssld-config; got %v %v %v", dep != nil, svc != nil, cm != nil)
	}
	ps := dep.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(ps.Containers))
	}
	c := ps.Containers[0]
	psc, sc := ps.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("pod securityContext.runAsNonRoot must be true")
	case psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Error("pod securityContext.runAsUser must be a non-zero uid")
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("pod seccompProfile must be RuntimeDefault")
	}
	switch {
	case sc == nil:
		t.Fatal("container securityContext missing")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 || fmt.Sprint(sc.Capabilities.Drop) != "[ALL]":
		t.Error("capabilities must drop ALL and add none")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: want cpu and memory requests and a memory limit, got %+v", c.Resources)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range []struct {
		name, path string
		pr         *corev1.Probe
	}{{"readiness", "/healthz", c.ReadinessProbe}, {"liveness", "/livez", c.LivenessProbe}} {
		name, pr := p.name, p.pr
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != p.path {
			t.Errorf("%s probe must be an HTTP GET of %s", name, p.path)
			continue
		}
		if pr.HTTPGet.Port.Type != intstr.String || ports[pr.HTTPGet.Port.StrVal] == 0 {
			t.Errorf("%s probe port %v is not a named container port", name, pr.HTTPGet.Port)
		}
	}
	if ports["metrics"] != 9180 {
		t.Errorf("metrics port: want 9180 (the one port in every doc), got %d", ports["metrics"])
	}

	// Volumes: the config folder (no subPath) and the Secret, whole, so an
	// optional ca.crt does not break the mount.
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
		if v, ok := vols[m.Name]; !ok {
			t.Errorf("mount %s has no volume", m.Name)
		} else if v.Secret != nil && len(v.Secret.Items) > 0 {
			t.Errorf("volume %s lists Secret items: a missing key (ca.crt) would fail the mount", v.Name)
		}
	}
	cfgArg := ""
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			cfgArg = c.Args[i+1]
		}
	}
	cfgVol := vols["config"]
	if cfgVol.ConfigMap == nil || cfgVol.ConfigMap.Name != cm.Name {
		t.Errorf("volume config must be ConfigMap %s", cm.Name)
	}
	if cfgArg != filepath.Join(mounts["config"], "ssld.yaml") {
		t.Errorf("--config %q is not ssld.yaml in the config mount %q", cfgArg, mounts["config"])
	}
	conf := cm.Data["ssld.yaml"]
	var parsed map[string]any
	if err := yaml.UnmarshalStrict([]byte(conf), &parsed); err != nil {
		t.Fatalf("ConfigMap ssld.yaml: %v", err)
	}
	if parsed["watch"] != true {
		t.Error("ssld.yaml: watch must be true so Secret and ConfigMap updates are reloaded")
	}
	if parsed["metrics_listen"] != fmt.Sprintf("0.0.0.0:%d", ports["metrics"]) {
		t.Errorf("ssld.yaml metrics_listen %v does not match the metrics port", parsed["metrics_listen"])
	}
	for _, k := range []string{"ssl_cert", "ssl_key"} {
		p, _ := parsed[k].(string)
		if filepath.Dir(p) != mounts["tls"] {
			t.Errorf("ssld.yaml %s %q is not in the Secret mount %q", k, p, mounts["tls"])
		}
	}
	if _, ok := parsed["ssl_ca"]; ok {
		t.Error("ssld.yaml must not require ssl_ca: ca.crt is optional in the Secret")
	}
	if sock, _ := parsed["socket"].(string); filepath.Dir(sock) != mounts["run"] || vols["run"].EmptyDir == nil {
		t.Errorf("socket %q must be in the writable emptyDir mount %q (root file system is read-only)", sock, mounts["run"])
	}

	// The Service selects the pods and targets named container ports.
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pod labels", k, v)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type != intstr.String || ports[p.TargetPort.StrVal] != p.Port {
			t.Errorf("Service port %s: targetPort %v is not the container port of the same number", p.Name, p.TargetPort)
		}
	}
}

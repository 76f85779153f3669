package deployments

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// k8sObjects parses every manifest in k8s/, keyed "Kind/name".
func k8sObjects(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]map[string]any{}
	for i, docs := range yamlFiles(t, files...) {
		f := files[i]
		for _, d := range docs {
			kind, _ := d["kind"].(string)
			name, _ := dig(d, "metadata", "name").(string)
			if d["apiVersion"] == nil || kind == "" || name == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
				continue
			}
			kinds[kind+"/"+name] = d
		}
	}
	return kinds
}

func TestKubernetesManifests(t *testing.T) {
	kinds := k8sObjects(t)
	dep := kinds["Deployment/herald"]
	if dep == nil {
		t.Fatal("no Deployment named herald")
	}
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("readiness probe is not /readyz")
	}
	if dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Errorf("liveness probe is not /healthz")
	}
	if dig(c, "lifecycle", "preStop") == nil {
		t.Errorf("no preStop drain")
	}
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Errorf("pods may run as root")
	}
	for _, want := range []string{"Service/herald", "PodDisruptionBudget/herald", "Service/redis", "Ingress/herald"} {
		if kinds[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	sel := dig(kinds["PodDisruptionBudget/herald"], "spec", "selector", "matchLabels", "app")
	if sel != "herald" {
		t.Errorf("PodDisruptionBudget selects app=%v, want herald", sel)
	}
}

// The drain works on any Kubernetes and fits in the grace period, and a
// forgotten Secret stops the pods instead of leaving the broker open.
func TestKubernetesDrainsAndRequiresTheSecret(t *testing.T) {
	dep := k8sObjects(t)["Deployment/herald"]
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	cmd, _ := dig(c, "lifecycle", "preStop", "exec", "command").([]any)
	if len(cmd) != 2 || cmd[0] != "sleep" {
		t.Fatalf("preStop is %v, want exec [sleep N] (the sleep action needs Kubernetes 1.30)", dig(c, "lifecycle", "preStop"))
	}
	preStop, _ := strconv.Atoi(fmt.Sprint(cmd[1]))
	var shutdown time.Duration
	env, _ := dig(c, "env").([]any)
	secrets := 0
	for _, e := range env {
		switch dig(e, "name") {
		case "HERALD_SHUTDOWN_TIMEOUT":
			shutdown, _ = time.ParseDuration(fmt.Sprint(dig(e, "value")))
		case "HERALD_API_KEYS", "HERALD_JWT_SECRET":
			secrets++
			if ref := dig(e, "valueFrom", "secretKeyRef"); ref == nil || dig(ref, "optional") == true {
				t.Errorf("%v comes from %v: want a required Secret key", dig(e, "name"), ref)
			}
		}
	}
	if secrets != 2 {
		t.Errorf("%d of HERALD_API_KEYS and HERALD_JWT_SECRET come from the Secret, want both", secrets)
	}
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(float64)
	if preStop == 0 || shutdown == 0 || time.Duration(grace)*time.Second <= time.Duration(preStop)*time.Second+shutdown {
		t.Errorf("terminationGracePeriodSeconds %v does not outlast preStop %ds + HERALD_SHUTDOWN_TIMEOUT %v", grace, preStop, shutdown)
	}
	// The image is one the documented command builds, not a registry's.
	text, err := os.ReadFile("k8s/herald.yaml")
	if err != nil {
		t.Fatal(err)
	}
	image, _ := dig(c, "image").(string)
	if !strings.Contains(string(text), "docker build -t "+image+" -f deployments/Dockerfile .") {
		t.Errorf("image %q: k8s/herald.yaml does not say how to build it", image)
	}
	ann, _ := dig(k8sObjects(t)["Ingress/herald"], "metadata", "annotations").(map[string]any)
	for _, k := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
		if s, _ := strconv.Atoi(fmt.Sprint(ann["nginx.ingress.kubernetes.io/"+k])); s <= 50 {
			t.Errorf("ingress %s = %v, want more than two heartbeats (50 s)", k, ann["nginx.ingress.kubernetes.io/"+k])
		}
	}
}

package deployments

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestHelmChartDefaults(t *testing.T) {
	objs := renderObjects(t, chartValues(t, nil))[0]
	for _, want := range []string{"Deployment/herald", "Service/herald", "PodDisruptionBudget/herald", "HorizontalPodAutoscaler/herald"} {
		if objs[want] == nil {
			t.Errorf("default values render no %s", want)
		}
	}
	if objs["Ingress/herald"] != nil {
		t.Error("an Ingress is rendered though ingress.enabled is false")
	}
	dep := objs["Deployment/herald"]
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" || dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Error("probes are not readiness /readyz and liveness /healthz")
	}
	// exec, not the sleep action that needs Kubernetes 1.30; the image has
	// busybox's sleep (TestDockerfileHasWhatThePreStopRuns).
	cmd, _ := dig(c, "lifecycle", "preStop", "exec", "command").([]any)
	if len(cmd) != 2 || cmd[0] != "sleep" {
		t.Fatalf("preStop runs %v, want exec [sleep N]", cmd)
	}
	preStop, _ := strconv.Atoi(fmt.Sprint(cmd[1]))
	env := envOf(t, objs)
	shutdown := strings.TrimSuffix(fmt.Sprint(dig(env["HERALD_SHUTDOWN_TIMEOUT"], "value")), "s")
	shutdownSec, err := strconv.Atoi(shutdown)
	if err != nil {
		t.Fatalf("HERALD_SHUTDOWN_TIMEOUT %q is not whole seconds", shutdown)
	}
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(float64)
	if preStop == 0 || int(grace) <= preStop+shutdownSec {
		t.Errorf("terminationGracePeriodSeconds %v does not outlast preStop %ds + shutdown %ds", grace, preStop, shutdownSec)
	}
	for _, name := range []string{"HERALD_API_KEYS", "HERALD_JWT_SECRET"} {
		ref := dig(env[name], "valueFrom", "secretKeyRef")
		if ref == nil || dig(ref, "optional") != false {
			t.Errorf("%s: secretKeyRef %v, want a required one (optional: false)", name, ref)
		}
	}
	if got := dig(env["HERALD_REDIS_URL"], "value"); got != "redis://redis:6379/0" {
		t.Errorf("standalone HERALD_REDIS_URL = %v", got)
	}
	if dig(dep, "spec", "replicas") != nil {
		t.Error("replicas is set though the HPA owns it")
	}
	if dig(objs["PodDisruptionBudget/herald"], "spec", "selector", "matchLabels") == nil ||
		fmt.Sprint(dig(objs["PodDisruptionBudget/herald"], "spec", "selector", "matchLabels")) !=
			fmt.Sprint(dig(dep, "spec", "selector", "matchLabels")) {
		t.Error("the PodDisruptionBudget does not select the Deployment's pods")
	}
	if dig(objs["HorizontalPodAutoscaler/herald"], "spec", "metrics", 0, "resource", "name") != "cpu" {
		t.Error("the HPA does not scale on CPU")
	}
}

func TestHelmRedisURLPerMode(t *testing.T) {
	cases := []struct {
		overrides map[string]any
		want      string
	}{
		{map[string]any{"redis.mode": "sentinel", "redis.sentinel.addrs": []any{"s1:26379", "s2:26379"}, "redis.sentinel.masterName": "m"},
			"redis+sentinel://s1:26379,s2:26379/m"},
		{map[string]any{"redis.mode": "cluster", "redis.cluster.addrs": []any{"c1:7000", "c2:7001"}},
			"redis+cluster://c1:7000,c2:7001"},
		{map[string]any{"redis.standalone.tls": true, "redis.standalone.db": 2},
			"rediss://redis:6379/2"},
		{map[string]any{"redis.mode": "cluster", "redis.passwordSecret.name": "redis-auth"},
			"redis+cluster://:$(HERALD_REDIS_PASSWORD)@redis-cluster-0.redis-cluster:6379,redis-cluster-1.redis-cluster:6379,redis-cluster-2.redis-cluster:6379"},
	}
	var sets []map[string]any
	for _, tc := range cases {
		sets = append(sets, chartValues(t, tc.overrides))
	}
	for i, objs := range renderObjects(t, sets...) {
		tc := cases[i]
		env := envOf(t, objs)
		if got := dig(env["HERALD_REDIS_URL"], "value"); got != tc.want {
			t.Errorf("%v: HERALD_REDIS_URL = %v, want %s", tc.overrides, got, tc.want)
		}
		// Kubernetes expands $(VAR) only from variables defined before.
		if pw := env["HERALD_REDIS_PASSWORD"]; strings.Contains(tc.want, "$(") &&
			(pw == nil || pw["index"].(int) > env["HERALD_REDIS_URL"]["index"].(int)) {
			t.Errorf("%v: HERALD_REDIS_PASSWORD is not defined before HERALD_REDIS_URL", tc.overrides)
		}
	}
	_, err := renderChart(t, chartValues(t, map[string]any{"redis.mode": "sentinels"}))
	if err == nil || !strings.Contains(err.Error(), "standalone, sentinel or cluster") {
		t.Errorf("redis.mode sentinels rendered with %v, want a failure naming the modes", err)
	}
}

func TestHelmOpenOnlyOnPurpose(t *testing.T) {
	env := envOf(t, renderObjects(t, chartValues(t, map[string]any{"auth.openOnPurpose": true}))[0])
	for _, name := range []string{"HERALD_API_KEYS", "HERALD_JWT_SECRET"} {
		if got := dig(env[name], "valueFrom", "secretKeyRef", "optional"); got != true {
			t.Errorf("openOnPurpose: %s secret optional = %v, want true", name, got)
		}
	}
}

func TestHelmIngressKeepsWebSocketsOpen(t *testing.T) {
	objs := renderObjects(t, chartValues(t, map[string]any{"ingress.enabled": true, "autoscaling.enabled": false}))[0]
	ann, _ := dig(objs["Ingress/herald"], "metadata", "annotations").(map[string]any)
	for _, k := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
		if s, _ := strconv.Atoi(fmt.Sprint(ann["nginx.ingress.kubernetes.io/"+k])); s <= 50 {
			t.Errorf("ingress %s = %v, want more than two heartbeats (50 s)", k, ann["nginx.ingress.kubernetes.io/"+k])
		}
	}
	if objs["HorizontalPodAutoscaler/herald"] != nil || dig(objs["Deployment/herald"], "spec", "replicas") != float64(3) {
		t.Error("without autoscaling the Deployment should own replicas and no HPA be rendered")
	}
}

// A value named by a template but missing from values.yaml renders as
// nothing in helm; here every .Values path in every branch must exist.
func TestHelmTemplatesUseOnlyDefinedValues(t *testing.T) {
	values := chartValues(t, nil)
	files, _ := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	ref := regexp.MustCompile(`\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)
	seen := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(text), -1) {
			seen++
			if dig(values, toAny(strings.Split(m[1][1:], "."))...) == nil {
				t.Errorf("%s uses .Values%s, which values.yaml does not define", filepath.Base(f), m[1])
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d .Values references in %d templates", seen, len(files))
	}
}

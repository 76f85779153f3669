package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
)

// helm is not installed where the tests run, so the chart is rendered here
// with Go's text/template, which Helm uses too, and the few Sprig and Helm
// functions its templates call. A template calling any other function
// fails to parse: give it one here with Sprig's or Helm's meaning.
const chartDir = "helm/herald"

// chartFuncs are the template functions, with include bound to tpl.
func chartFuncs(tpl **template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b strings.Builder
			err := (*tpl).ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"fail":    func(msg string) (string, error) { return "", errors.New(msg) },
		"quote":   func(v any) string { return strconv.Quote(fmt.Sprint(v)) },
		"ternary": func(yes, no any, cond bool) any { return map[bool]any{true: yes, false: no}[cond] },
		"join": func(sep string, list []any) string {
			parts := make([]string, len(list))
			for i, v := range list {
				parts[i] = fmt.Sprint(v)
			}
			return strings.Join(parts, sep)
		},
		"add": func(nums ...any) (int, error) {
			sum := 0
			for _, n := range nums {
				switch n := n.(type) {
				case int:
					sum += n
				case float64: // numbers from values.yaml
					sum += int(n)
				default:
					return 0, fmt.Errorf("add: %T %v is not a number", n, n)
				}
			}
			return sum, nil
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"toYaml": toYaml,
	}
}

// toYaml writes a map or a list one entry a line, each value as JSON (a
// JSON value is YAML), which is all the chart's toYaml calls need.
func toYaml(v any) (string, error) {
	var lines []string
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			j, err := json.Marshal(v[k])
			if err != nil {
				return "", err
			}
			lines = append(lines, k+": "+string(j))
		}
	case []any:
		for _, e := range v {
			j, err := json.Marshal(e)
			if err != nil {
				return "", err
			}
			lines = append(lines, "- "+string(j))
		}
	default:
		return "", fmt.Errorf("toYaml: %T", v)
	}
	return strings.Join(lines, "\n"), nil
}

// renderChart renders every template but helpers and NOTES.txt, as helm
// template would, into one multi-document YAML stream.
func renderChart(t *testing.T, values map[string]any) (string, error) {
	t.Helper()
	chart := yamlDocs(t, filepath.Join(chartDir, "Chart.yaml"))[0]
	files, _ := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	var tpl *template.Template
	tpl = template.New("chart").Funcs(chartFuncs(&tpl)).Option("missingkey=error")
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.New(filepath.Base(f)).Parse(string(text)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	data := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Name": "herald", "Namespace": "default"},
		"Chart":   map[string]any{"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
	}
	var out strings.Builder
	for _, f := range files {
		name := filepath.Base(f)
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n", name)
		if err := tpl.ExecuteTemplate(&out, name, data); err != nil {
			return "", err
		}
		out.WriteString("\n")
	}
	return out.String(), nil
}

// renderObjects renders the chart once per set of values and parses the
// results (in one Python run), each keyed "Kind/name".
func renderObjects(t *testing.T, valueSets ...map[string]any) []map[string]map[string]any {
	t.Helper()
	paths := make([]string, len(valueSets))
	for i, values := range valueSets {
		text, err := renderChart(t, values)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		paths[i] = filepath.Join(t.TempDir(), "rendered.yaml")
		if err := os.WriteFile(paths[i], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out []map[string]map[string]any
	for i, docs := range yamlFiles(t, paths...) {
		objs := map[string]map[string]any{}
		for _, d := range docs {
			kind, _ := d["kind"].(string)
			name, _ := dig(d, "metadata", "name").(string)
			if d["apiVersion"] == nil || kind == "" || name == "" {
				t.Errorf("a document rendered with %v lacks apiVersion, kind or metadata.name", valueSets[i])
			}
			objs[kind+"/"+name] = d
		}
		out = append(out, objs)
	}
	return out
}

// chartValues reads values.yaml with the overrides applied ("a.b" paths).
func chartValues(t *testing.T, overrides map[string]any) map[string]any {
	t.Helper()
	v := yamlDocs(t, filepath.Join(chartDir, "values.yaml"))[0]
	for path, val := range overrides {
		keys := strings.Split(path, ".")
		m, ok := dig(v, toAny(keys[:len(keys)-1])...).(map[string]any)
		if !ok || m[keys[len(keys)-1]] == nil {
			t.Fatalf("values.yaml has no %s to override", path)
		}
		m[keys[len(keys)-1]] = val
	}
	return v
}

func toAny(keys []string) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

// envOf is the herald container's environment as name → entry.
func envOf(t *testing.T, objs map[string]map[string]any) map[string]map[string]any {
	t.Helper()
	dep := objs["Deployment/herald"]
	if dep == nil {
		t.Fatalf("no Deployment/herald among %v", slices.Sorted(maps.Keys(objs)))
	}
	env := map[string]map[string]any{}
	list, _ := dig(dep, "spec", "template", "spec", "containers", 0, "env").([]any)
	for i, e := range list {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		m["index"] = i
		env[name] = m
	}
	return env
}

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

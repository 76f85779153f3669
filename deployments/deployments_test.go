// Package deployments holds the container, compose and Kubernetes files.
// No container engine runs where the tests do, so these tests check that
// every file parses and says what a cluster needs.
package deployments

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// yamlDocs parses every YAML document in path with Python's yaml module,
// the one YAML parser every machine of this project has.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	const script = `import json, sys, yaml
print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))`
	var out []byte
	var err error
	// The python3 first on PATH may be a private one without PyYAML;
	// Debian's python3-yaml serves /usr/bin/python3.
	for _, python := range []string{"python3", "/usr/bin/python3"} {
		if out, err = exec.Command(python, "-c", script, path).Output(); err == nil {
			break
		}
	}
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s does not parse as YAML (needs python3 with PyYAML: apt-get install python3-yaml): %v\n%s", path, err, stderr)
	}
	var docs []map[string]any
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return docs
}

// dig walks nested maps and lists: a string key indexes a map, an int a list.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestComposeRunsThreeNodesBehindALoadBalancer(t *testing.T) {
	docs := yamlDocs(t, "docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("want one document, got %d", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	for _, name := range []string{"redis", "herald-1", "herald-2", "herald-3", "lb"} {
		if services[name] == nil {
			t.Errorf("service %q is missing", name)
		}
	}
	for _, name := range []string{"herald-1", "herald-2", "herald-3"} {
		url, _ := dig(services, name, "environment", "HERALD_REDIS_URL").(string)
		if !strings.HasPrefix(url, "redis://redis:") {
			t.Errorf("%s: HERALD_REDIS_URL = %q, want the compose redis", name, url)
		}
		// The nodes believe X-Forwarded-For from the load balancer alone.
		if lb := dig(services, "lb", "networks", "default", "ipv4_address"); lb == nil ||
			dig(services, name, "environment", "HERALD_TRUSTED_PROXIES") != lb {
			t.Errorf("%s: HERALD_TRUSTED_PROXIES = %v, want the load balancer's address %v",
				name, dig(services, name, "environment", "HERALD_TRUSTED_PROXIES"), lb)
		}
		if dig(services, name, "environment", "HERALD_API_KEYS") == nil {
			t.Errorf("%s: no HERALD_API_KEYS: backends behind the load balancer would be refused", name)
		}
		if dig(services, name, "build", "dockerfile") != "deployments/Dockerfile" {
			t.Errorf("%s does not build deployments/Dockerfile", name)
		}
	}
	vols, _ := dig(services, "lb", "volumes").([]any)
	if len(vols) == 0 || !strings.HasPrefix(vols[0].(string), "./nginx.conf:") {
		t.Errorf("lb does not mount nginx.conf: %v", vols)
	}
}

func TestNginxProxiesWebSocketsToEveryNode(t *testing.T) {
	conf, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for i, c := range conf {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth < 0 {
			t.Fatalf("unbalanced '}' at byte %d", i)
		}
	}
	if depth != 0 {
		t.Fatalf("%d unclosed '{'", depth)
	}
	for _, want := range []string{
		"proxy_set_header Upgrade $http_upgrade",
		"proxy_set_header Connection $connection_upgrade",
		"proxy_http_version 1.1",
		"server herald-1:8080", "server herald-2:8080", "server herald-3:8080",
	} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
}

func TestDockerfileBuildsStaticNonRootImage(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1)); n < 2 {
		t.Errorf("want a multi-stage build, found %d FROM lines", n)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/herald", "HEALTHCHECK", "/healthz"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(text)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Errorf("Dockerfile must switch to a non-root USER, got %v", user)
	}
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]map[string]any{}
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			kind, _ := d["kind"].(string)
			name, _ := dig(d, "metadata", "name").(string)
			if d["apiVersion"] == nil || kind == "" || name == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
				continue
			}
			kinds[kind+"/"+name] = d
		}
	}
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
	for _, want := range []string{"Service/herald", "PodDisruptionBudget/herald", "Service/redis"} {
		if kinds[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	sel := dig(kinds["PodDisruptionBudget/herald"], "spec", "selector", "matchLabels", "app")
	if sel != "herald" {
		t.Errorf("PodDisruptionBudget selects app=%v, want herald", sel)
	}
}

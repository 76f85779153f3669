// Package deployments holds the container, compose and Kubernetes files.
// No container engine runs where the tests do, so these tests check that
// every file parses and says what a cluster needs.
package deployments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// yamlDocs parses every YAML document in path.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	return yamlFiles(t, path)[0]
}

// parsed keeps each parsed file's JSON by its content: a Python start costs
// up to a second on a busy machine, and every chart rendering reads the same
// values.yaml.
var parsed sync.Map // content → json.RawMessage

// yamlFiles parses every YAML document of each path with Python's yaml
// module, the one YAML parser every machine of this project has, in one run
// for the files not parsed before.
func yamlFiles(t *testing.T, paths ...string) [][]map[string]any {
	t.Helper()
	contents := make([]string, len(paths))
	var todo []string
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		contents[i] = string(b)
		if _, ok := parsed.Load(contents[i]); !ok {
			todo = append(todo, p)
		}
	}
	if len(todo) > 0 {
		for i, raw := range runYAMLParser(t, todo) {
			b, _ := os.ReadFile(todo[i])
			parsed.Store(string(b), raw)
		}
	}
	out := make([][]map[string]any, len(paths))
	for i, c := range contents {
		raw, _ := parsed.Load(c)
		if err := json.Unmarshal(raw.(json.RawMessage), &out[i]); err != nil {
			t.Fatalf("%s: %v", paths[i], err)
		}
	}
	return out
}

func runYAMLParser(t *testing.T, paths []string) []json.RawMessage {
	t.Helper()
	const script = `import json, sys, yaml
print(json.dumps([[d for d in yaml.safe_load_all(open(p)) if d is not None] for p in sys.argv[1:]]))`
	var out []byte
	var err error
	// The python3 first on PATH may be a private one without PyYAML;
	// Debian's python3-yaml serves /usr/bin/python3.
	for _, python := range []string{"python3", "/usr/bin/python3"} {
		if out, err = exec.Command(python, append([]string{"-c", script}, paths...)...).Output(); err == nil {
			break
		}
	}
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%v do not all parse as YAML (needs python3 with PyYAML: apt-get install python3-yaml): %v\n%s", paths, err, stderr)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(out, &raws); err != nil || len(raws) != len(paths) {
		t.Fatalf("%v: %d results, %v", paths, len(raws), err)
	}
	return raws
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

// The preStop drains of k8s/ and helm/ exec sleep in the image: its runtime
// stage must have one (busybox's, in alpine or busybox).
func TestDockerfileHasWhatThePreStopRuns(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(string(df), -1)
	if len(froms) == 0 {
		t.Fatal("no FROM")
	}
	base := froms[len(froms)-1][1]
	if !strings.HasPrefix(base, "alpine") && !strings.HasPrefix(base, "busybox") {
		t.Errorf("runtime image %s may have no sleep for the preStop exec (and no wget for HEALTHCHECK)", base)
	}
}

func TestComposeSentinelRunsRedisWithFailover(t *testing.T) {
	docs := yamlDocs(t, "docker-compose.sentinel.yml")
	if len(docs) != 1 {
		t.Fatalf("want one document, got %d", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	for _, name := range []string{"redis-master", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "herald-1", "herald-2", "herald-3", "lb"} {
		if services[name] == nil {
			t.Errorf("service %q is missing", name)
		}
	}
	if cmd := fmt.Sprint(dig(services, "redis-replica", "command")); !strings.Contains(cmd, "--replicaof redis-master 6379") {
		t.Errorf("redis-replica runs %s, want --replicaof redis-master 6379", cmd)
	}
	for _, name := range []string{"sentinel-1", "sentinel-2", "sentinel-3"} {
		script := fmt.Sprint(dig(services, name, "command"))
		for _, want := range []string{"sentinel monitor herald redis-master 6379 2", "--sentinel", "sentinel resolve-hostnames yes"} {
			if !strings.Contains(script, want) {
				t.Errorf("%s does not run %q", name, want)
			}
		}
	}
	want := "redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/herald"
	lb := dig(services, "lb", "networks", "default", "ipv4_address")
	for _, name := range []string{"herald-1", "herald-2", "herald-3"} {
		if got := dig(services, name, "environment", "HERALD_REDIS_URL"); got != want {
			t.Errorf("%s: HERALD_REDIS_URL = %v, want %s", name, got, want)
		}
		if lb == nil || dig(services, name, "environment", "HERALD_TRUSTED_PROXIES") != lb {
			t.Errorf("%s does not trust the load balancer %v", name, lb)
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

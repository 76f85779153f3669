package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
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

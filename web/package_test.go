package web

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// packageName is web/package.json's name, the one apps import.
const packageName = "@herald-broker/client"

// The files package.json publishes, from web/: the served herald.js and its
// types, never a copy that could drift from them.
var packaged = []string{"README.md", "package.json", "static/herald.d.ts", "static/herald.js"}

// TestPackageInstallsAndImports packs web/ as npm would publish it, installs
// the tarball into a scratch project without the registry, and imports the
// client from it in Node by the package's name.
func TestPackageInstallsAndImports(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: no %s on PATH, so the npm package of herald.js is not checked (Debian: apt-get install nodejs npm)", tool)
		}
	}
	src := t.TempDir()
	for _, name := range packaged {
		copyFile(t, name, filepath.Join(src, name))
	}
	cache := t.TempDir()
	out := runTool(t, src, "npm", "pack", "--json", "--offline", "--cache", cache, "--pack-destination", src)
	var packs []struct {
		Name     string
		Version  string
		Filename string
		Files    []struct{ Path string }
	}
	if err := json.Unmarshal([]byte(out), &packs); err != nil || len(packs) != 1 {
		t.Fatalf("npm pack --json said %q: %v", out, err)
	}
	pack := packs[0]
	var files []string
	for _, f := range pack.Files {
		files = append(files, f.Path)
	}
	sort.Strings(files)
	if pack.Name != packageName || strings.Join(files, ",") != strings.Join(packaged, ",") {
		t.Fatalf("packed %s with %v, want %s with %v", pack.Name, files, packageName, packaged)
	}

	app := t.TempDir()
	if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"name":"scratch","private":true,"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, app, "npm", "install", "--offline", "--no-audit", "--no-fund", "--cache", cache, filepath.Join(src, pack.Filename))
	got := runTool(t, app, "node", "--input-type=module", "-e", `
		import { Herald, HeraldError, matches } from '`+packageName+`';
		import { createRequire } from 'node:module';
		const require = createRequire(import.meta.url);
		const types = require.resolve('`+packageName+`/package.json').replace(/package\.json$/, '') + require('`+packageName+`/package.json').types;
		const h = new Herald('ws://herald.example/ws', { urls: ['https://other.example'] });
		console.log(typeof Herald, new HeraldError('x').code, matches('chat.*', 'chat.a'), h.urls.join(' '), require('node:fs').existsSync(types));`)
	want := "function x true ws://herald.example/ws wss://other.example/ true"
	if strings.TrimSpace(got) != want {
		t.Fatalf("importing %s in Node printed %q, want %q", packageName, got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runTool runs name in dir, with npm kept off the network and out of the
// user's configuration, and returns its standard output.
func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_offline=true", "npm_config_update_notifier=false",
		"npm_config_userconfig="+filepath.Join(dir, ".npmrc-none"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

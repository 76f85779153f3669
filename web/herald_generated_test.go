package web

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/herald-broker/herald/web/internal/jsjoin"
)

// static/herald.js is generated from src/ and checked in, so that nodes
// embed it and the npm package ships it as one file: an edit of src/
// without generating it again, or of herald.js by hand, is caught here.
func TestHeraldJSIsGeneratedFromSrc(t *testing.T) {
	want, err := jsjoin.Join(os.DirFS("src"))
	if err != nil {
		t.Fatalf("web/src does not join into herald.js: %v", err)
	}
	got, err := os.ReadFile("static/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("web/static/herald.js is not what web/src makes: run `%s` (edit web/src, not herald.js)", jsjoin.Command)
	}
}

// The served herald.js is one module: it imports nothing, and exports
// the public names of herald.d.ts and no other.
func TestHeraldJSIsOneModuleWithItsPublicExports(t *testing.T) {
	body, err := os.ReadFile("static/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	if imports := regexp.MustCompile(`(?m)^[ \t]*import\b.*$`).FindAll(body, -1); len(imports) > 0 {
		t.Errorf("herald.js imports: %q", imports)
	}
	exports := regexp.MustCompile(`(?m)^[ \t]*export\b.*$`).FindAll(body, -1)
	want := "export { Herald, HeraldError, matches, tokenExpiry };"
	if len(exports) != 1 || string(exports[0]) != want {
		t.Errorf("herald.js exports %q, want only %q", exports, want)
	}
}

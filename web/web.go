// Package web serves Herald's browser side: the client library herald.js
// with its TypeScript types, and the dashboard at /. The files live in
// static/ and are embedded in the binary, so every node serves them and no
// build step is needed. static/herald.js is generated from the modules of
// src/ (src/README.md), and checked in.
package web

//go:generate go run generate.go

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes names the type of every kind of file in static/. A file of
// another kind is a mistake caught by the tests, not served as a guess.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// dashboardPolicy keeps the dashboard to its own scripts and styles. It may
// talk to other nodes of the cluster, so connect-src is open.
const dashboardPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// Handler serves the embedded files: / is the dashboard (index.html) and
// every other file of static/ is at /<name>, for example /herald.js. Only GET
// and HEAD are allowed. Responses carry an ETag and Cache-Control: no-cache,
// so browsers revalidate (a cheap 304) and never run a stale herald.js after
// an upgrade. Mount it at / or under a prefix with http.StripPrefix.
func Handler() http.Handler {
	files, err := load(static)
	if err != nil {
		// The embedded files are fixed at build time; the tests load them.
		panic(err)
	}
	return &handler{files: files, started: time.Now()}
}

type handler struct {
	files   map[string]*file // by URL path
	started time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if f.name == "index.html" {
		hdr.Set("Content-Security-Policy", dashboardPolicy)
		hdr.Set("Referrer-Policy", "no-referrer")
	}
	if f.name == "herald.js" {
		hdr.Set("X-TypeScript-Types", "./herald.d.ts")
	}
	// ServeContent answers If-None-Match with 304, ranges and HEAD.
	http.ServeContent(w, r, f.name, h.started, bytes.NewReader(f.body))
}

// load reads every file of static/ and gives each its URL path.
func load(fsys fs.FS) (map[string]*file, error) {
	entries, err := fs.ReadDir(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("herald/web: reading embedded files: %w", err)
	}
	files := make(map[string]*file, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		f, err := loadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		files["/"+f.name] = f
	}
	index, ok := files["/index.html"]
	if !ok {
		return nil, fmt.Errorf("herald/web: static/index.html is missing")
	}
	files["/"] = index
	return files, nil
}

func loadFile(fsys fs.FS, name string) (*file, error) {
	body, err := fs.ReadFile(fsys, path.Join("static", name))
	if err != nil {
		return nil, fmt.Errorf("herald/web: reading %s: %w", name, err)
	}
	ext := path.Ext(name)
	if strings.HasSuffix(name, ".d.ts") {
		ext = ".ts"
	}
	ct, ok := contentTypes[ext]
	if !ok {
		return nil, fmt.Errorf("herald/web: no content type for %s", name)
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return &file{name: name, body: body, contentType: ct, etag: etag}, nil
}

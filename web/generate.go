//go:build ignore

// generate.go writes static/herald.js from the modules of src/ (see
// src/README.md). Run from the repository's root: go generate ./web.
package main

import (
	"log"
	"os"

	"github.com/herald-broker/herald/web/internal/jsjoin"
)

func main() {
	joined, err := jsjoin.Join(os.DirFS("src"))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("static/herald.js", joined, 0o644); err != nil {
		log.Fatalf("writing static/herald.js: %v", err)
	}
}

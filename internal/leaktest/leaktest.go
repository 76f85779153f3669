// Package leaktest checks, in tests, that a part's Close leaves none of
// the goroutines it started running.
package leaktest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle is how long goroutines that Close awaited may take to return
// from their last deferred call: Close can return a moment before they
// are gone from the scheduler.
const settle = time.Second

// Check notes the goroutines running now and returns a function that fails
// t if a goroutine started since, whose stack names a function of one of
// pkgs (import paths, such as "github.com/herald-broker/herald/broker"),
// is still running once settle has passed. Call the returned function
// right after Close returns.
func Check(t testing.TB, pkgs ...string) func() {
	t.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[header(g)] = true
	}
	return func() {
		t.Helper()
		var left []string
		for deadline := time.Now().Add(settle); ; time.Sleep(10 * time.Millisecond) {
			left = left[:0]
			for _, g := range goroutines() {
				if !before[header(g)] && names(g, pkgs) {
					left = append(left, g)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("%d goroutine(s) still running after Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
	}
}

// goroutines returns the stack of every goroutine, one entry each.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(bytes.TrimSpace(buf[:n])), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// header is a goroutine's first line without its state, "goroutine 12":
// its id, which is never reused while the process runs.
func header(g string) string {
	line, _, _ := strings.Cut(g, "\n")
	id, _, _ := strings.Cut(line, " [")
	return id
}

// names reports whether stack g runs a function of one of pkgs. A function
// of pkg is written "pkg.Func" or "pkg.(*Type).Method" in a stack; a test
// package "pkg_test" does not count.
func names(g string, pkgs []string) bool {
	for _, pkg := range pkgs {
		if strings.Contains(g, pkg+".") {
			return true
		}
	}
	return false
}

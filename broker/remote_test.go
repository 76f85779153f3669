package broker

import (
	"fmt"
	"sync"
	"testing"
)

// TestRemoteSubsConcurrent acquires and releases one pattern from many
// goroutines; the engine must never be subscribed twice, and ends
// unsubscribed.
func TestRemoteSubsConcurrent(t *testing.T) {
	e := newFakeEngine()
	r := newRemoteSubs(e)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				p := fmt.Sprint("p", g%2)
				if _, err := r.acquire(t.Context(), p); err != nil {
					t.Error(err)
					return
				}
				if !e.isActive(p) {
					t.Error("acquired but the engine is not subscribed")
				}
				if err := r.release(t.Context(), p); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if e.doubleSub != nil {
		t.Error(e.doubleSub)
	}
	if e.isActive("p0") || e.isActive("p1") || len(r.byPat) != 0 {
		t.Errorf("left behind: %v %v", e.active, r.byPat)
	}
}

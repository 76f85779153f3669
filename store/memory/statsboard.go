package memory

import (
	"context"
	"sort"
	"sync"
	"time"
)

// statsBoard keeps the stats each node posts, until their ttl: for the
// memory engine, only its own node's. Its zero value is ready.
type statsBoard struct {
	mu    sync.Mutex
	posts map[string]statsPost
}

type statsPost struct {
	stats   []byte
	expires time.Time
}

// PostStats keeps node's stats, replacing its last, for ttl.
func (e *Engine) PostStats(_ context.Context, node string, stats []byte, ttl time.Duration) error {
	b := &e.board
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.posts == nil {
		b.posts = make(map[string]statsPost)
	}
	b.posts[node] = statsPost{stats: append([]byte(nil), stats...), expires: e.now().Add(ttl)}
	return nil
}

// ReadStats returns the stats posted that have not expired, at most max
// of them, in node order. The slices are the caller's.
func (e *Engine) ReadStats(_ context.Context, max int) ([][]byte, error) {
	b := &e.board
	b.mu.Lock()
	defer b.mu.Unlock()
	now := e.now()
	nodes := make([]string, 0, len(b.posts))
	for node, p := range b.posts {
		if now.After(p.expires) {
			delete(b.posts, node)
			continue
		}
		nodes = append(nodes, node)
	}
	sort.Strings(nodes)
	out := make([][]byte, 0, min(max, len(nodes)))
	for _, node := range nodes[:min(max, len(nodes))] {
		out = append(out, append([]byte(nil), b.posts[node].stats...))
	}
	return out, nil
}

// RemoveStats forgets node's stats: it is stopping.
func (e *Engine) RemoveStats(_ context.Context, node string) error {
	b := &e.board
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.posts, node)
	return nil
}

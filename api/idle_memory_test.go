package api_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/herald-broker/herald/api"
)

// An idle WebSocket keeps nothing of the HTTP request that upgraded it: a
// release function that held the response kept its request, context and
// buffers alive for every connection's life (about 12 KB each). Client and
// server share this process, so the bound covers both ends.
func TestIdleConnectionsKeepNoHTTPState(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	const conns = 300
	before := liveHeap()
	for range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, br, _, err := ws.Dial(ctx, n.wsURL)
		cancel()
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if br != nil {
			ws.PutReader(br)
		}
		t.Cleanup(func() { c.Close() })
	}
	perConn := (liveHeap() - before) / conns
	t.Logf("%d bytes of heap per idle connection, both ends", perConn)
	if perConn > 6<<10 {
		t.Fatalf("%d bytes of heap per idle connection, want under 6 KiB", perConn)
	}
}

func liveHeap() int64 {
	var m runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

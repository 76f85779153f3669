package broker

import (
	"runtime"
	"testing"
)

// BenchmarkIdleSession reports the heap one idle connection costs the
// broker: a session subscribed to one of 100 topics, with its index
// entries, after its welcome was sent.
func BenchmarkIdleSession(b *testing.B) {
	const n = 10_000
	b.ReportAllocs()
	var perSession float64
	for b.Loop() {
		br, _ := newTestBroker(b, Config{})
		conn := &countConn{}
		before := liveHeap()
		for i := range n {
			s := br.Connect(conn, ClientInfo{})
			sub := &subscription{session: s, pattern: topicNames[i%len(topicNames)], exact: true}
			s.addLocked(sub)
			br.index(sub)
		}
		perSession = float64(liveHeap()-before) / n
		runtime.KeepAlive(br)
	}
	b.ReportMetric(perSession, "heap-bytes/session")
}

var topicNames = func() []string {
	names := make([]string, 100)
	for i := range names {
		names[i] = "bench." + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return names
}()

// liveHeap is the heap in use after two collections: the first leaves what
// sync.Pools held in their victim caches (a pooled deflate writer is about
// a megabyte), the second frees it, so that an earlier test's pooled
// buffers are not counted before and freed after.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

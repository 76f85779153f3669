package hooks

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkMemberMemory: one op fills the sender's memory of the events
// it sent with a generation of maxRemembered member events, each of a
// topic of 255 bytes (the longest) and a user of 11, through the sender's
// own path (withoutRepeats, then remember); heap-bytes/entry is the heap
// the memory holds afterwards, over the events it remembers.
func BenchmarkMemberMemory(b *testing.B) {
	var perEntry float64
	for range b.N {
		perEntry = memberMemoryHeap(b, maxRemembered)
	}
	b.ReportMetric(perEntry, "heap-bytes/entry")
}

// memberMemoryHeap returns the heap a memory of n member events of long
// topics holds, per event: the live heap with it, less the live heap once
// it forgot them, measured back to back so that what other goroutines
// allocate meanwhile counts little.
func memberMemoryHeap(tb testing.TB, n int) float64 {
	tb.Helper()
	batch := make([][]byte, 0, maxBatch)
	var m memberMemory
	now := time.Now()
	remember := func() {
		_, sent := m.withoutRepeats(batch)
		for k, added := range sent {
			m.remember(k, added, now)
		}
		batch = batch[:0]
	}
	for i := range n {
		batch = append(batch, memberEventOf(i))
		if len(batch) == cap(batch) {
			remember()
		}
	}
	remember()
	if got := len(m.cur) + len(m.prev); got != n {
		tb.Fatalf("%d events remembered, want %d", got, n)
	}
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	m.forget()
	runtime.GC()
	runtime.ReadMemStats(&without)
	return float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)) / float64(n)
}

// memberEventOf is the member_added of user i on a topic of 255 bytes of
// its own.
func memberEventOf(i int) []byte {
	id := fmt.Sprintf("room.%09d.", i)
	topic := id + strings.Repeat("x", 255-len(id))
	return fmt.Appendf(nil, `{"name":"member_added","topic":%q,"user":"user-%06d"}`, topic, i)
}

package memory

import (
	"fmt"
	"runtime"
	"testing"
)

// heapAfter returns the live heap after fn, less the live heap before it.
func heapAfter(fn func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// The budget must count what the heap holds, or a budget of 256 MiB would
// let the process grow past it: the count must be at least nine tenths of
// the live heap the topics take, and not much more (it counts 0-13 % more
// on amd64), for messages, states and keys alike.
func TestBudgetCountsWhatTheHeapHolds(t *testing.T) {
	cases := []struct {
		name                  string
		historySize, dataSize int
		keyed                 bool
	}{
		{"states", 0, 16, false},
		{"small-messages", 10, 16, false},
		{"messages", 10, 1000, false},
		{"keys", 0, 16, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := testEngine(t, Config{HistorySize: c.historySize})
			const topics, perTopic = 5000, 4
			heap := heapAfter(func() {
				for i := range topics * perTopic {
					r := sized(fmt.Sprintf("topic.%d", i%topics), c.dataSize)
					r.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
					if c.keyed {
						r.IdempotencyKey = fmt.Sprintf("key-%d", i)
					}
					mustPublish(t, e, r)
				}
			})
			counted := e.Stats().HistoryBytes
			t.Logf("live heap %d bytes, counted %d (%.2f)", heap, counted, float64(counted)/float64(heap))
			// Under-counting would let the heap past the budget; over-counting
			// only drops history early. Map growth makes the live heap of
			// the same states vary by run, hence the loose upper bound.
			if counted < heap*9/10 || counted > heap*2 {
				t.Fatalf("counted %d bytes for a live heap of %d", counted, heap)
			}
			runtime.KeepAlive(e)
		})
	}
}

// Ten million one-message topics at small scale: once the budget is full,
// publishing to ever new topics must not grow the heap (table maps, freed
// states and the record of them included).
func TestBudgetHoldsHeapUnderTopicChurn(t *testing.T) {
	const budget = 1 << 20
	e, _ := testEngine(t, Config{HistorySize: 10, MaxHistoryBytes: budget})
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			mustPublish(t, e, req(fmt.Sprintf("churn.%d", i)))
		}
	}
	publish(0, 50_000) // fill the budget and reach the steady state
	grown := heapAfter(func() { publish(50_000, 250_000) })
	t.Logf("heap grew %d bytes over 200,000 more topics; %d states held", grown, e.Stats().Topics)
	if grown > budget/2 {
		t.Fatalf("heap grew %d bytes with a budget of %d already full", grown, budget)
	}
}

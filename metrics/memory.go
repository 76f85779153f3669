package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-broker/herald/store/memory"
)

// MemoryStats is the optional engine capability behind herald_memory_*;
// *memory.Engine has it.
type MemoryStats interface {
	Stats() memory.Stats
}

var (
	memoryTopicsDesc = prometheus.NewDesc("herald_memory_topics",
		"Topic states the memory engine holds.", nil, nil)
	memoryHistoryBytesDesc = prometheus.NewDesc("herald_memory_history_bytes",
		"Bytes of history, topic state and idempotency keys, as counted against the budget.", nil, nil)
	memoryHistoryLimitDesc = prometheus.NewDesc("herald_memory_history_limit_bytes",
		"The budget herald_memory_history_bytes stays under (HERALD_MAX_HISTORY_BYTES).", nil, nil)
	memoryKeysDesc = prometheus.NewDesc("herald_memory_idempotency_keys",
		"Idempotency keys the memory engine remembers.", nil, nil)
	// One counter with a label rather than four: they answer one question,
	// what the bounds took, and sum to nothing meaningful only by design.
	memoryEvictionsDesc = prometheus.NewDesc("herald_memory_evictions_total",
		"What the memory engine's bounds dropped: topics that lost history, messages, whole topic states, idempotency keys.",
		[]string{"what"}, nil)
)

var memoryDescs = []*prometheus.Desc{memoryTopicsDesc, memoryHistoryBytesDesc,
	memoryHistoryLimitDesc, memoryKeysDesc, memoryEvictionsDesc}

// memoryStats returns the engine's memory counters, or nil when it has none.
func (s *Sources) memoryStats() MemoryStats {
	ms, _ := s.Engine.(MemoryStats)
	return ms
}

func collectMemory(ch chan<- prometheus.Metric, ms MemoryStats) {
	st := ms.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(memoryTopicsDesc, float64(st.Topics))
	gauge(memoryHistoryBytesDesc, float64(st.HistoryBytes))
	gauge(memoryHistoryLimitDesc, float64(st.MaxHistoryBytes))
	gauge(memoryKeysDesc, float64(st.IdempotencyKeys))
	for what, n := range map[string]uint64{
		"history": st.HistoryEvictions, "messages": st.MessagesEvicted,
		"topics": st.TopicEvictions, "idempotency_keys": st.IdempotencyEvictions,
	} {
		ch <- prometheus.MustNewConstMetric(memoryEvictionsDesc, prometheus.CounterValue, float64(n), what)
	}
}

package broker

import (
	"sync/atomic"
	"time"
)

// publishBounds are the upper bounds of the publish latency histogram: from
// a memory engine's tens of microseconds to a Redis call near its timeout.
var publishBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// latencyHistogram counts durations in publishBounds' buckets with atomic
// counters: an observation costs a few adds and takes no lock, so the
// publish path pays nothing for metrics that are read only when scraped.
type latencyHistogram struct {
	buckets [len(publishBounds) + 1]atomic.Uint64 // one per bound, then one above them all
	sum     atomic.Int64                          // nanoseconds
}

func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	for i < len(publishBounds) && d > publishBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// Histogram is a snapshot of a latency histogram in the shape Prometheus
// exports: Counts[i] is how many observations were at most Bounds[i].
type Histogram struct {
	Bounds []time.Duration // ascending; shared by every snapshot, do not modify
	Counts []uint64        // cumulative, one per bound
	Count  uint64          // every observation, including those above the last bound
	Sum    time.Duration
}

func (h *latencyHistogram) snapshot() Histogram {
	s := Histogram{Bounds: publishBounds[:], Counts: make([]uint64, len(publishBounds))}
	for i := range h.buckets {
		s.Count += h.buckets[i].Load()
		if i < len(s.Counts) {
			s.Counts[i] = s.Count
		}
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// PublishLatency returns how long the engine took to take each publish
// through this node, HTTP and WebSocket alike, failed ones included (a
// Redis timeout is latency a publisher waited). With the memory engine
// it includes the local fan-out, which runs inside the engine's Publish.
func (b *Broker) PublishLatency() Histogram { return b.stats.publishLatency.snapshot() }

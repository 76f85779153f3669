package broker

import (
	"fmt"
	"testing"
	"time"
)

func TestTrafficCountsPerTopicAndCarriesTheBusiest(t *testing.T) {
	start := time.Unix(1000, 0)
	tr := newTraffic(start)
	for i := 1; i <= 10; i++ {
		tr.record("chat.busy", PublishResult{Epoch: "e1", Seq: uint64(i)}, start.UnixMilli()+int64(i))
	}
	tr.record("chat.quiet", PublishResult{Epoch: "e2", Seq: 4}, start.UnixMilli())

	if w := tr.window(start.Add(time.Second)); len(w.Topics) != 0 {
		t.Fatalf("a window read before it ends reported %+v, want the (empty) one before", w)
	}
	w := tr.window(start.Add(TrafficWindow))
	if len(w.Topics) != 2 || w.Topics[0].Topic != "chat.busy" || w.Topics[0].Publishes != 10 ||
		w.Topics[0].Seq != 10 || w.Topics[0].Epoch != "e1" || w.Topics[1].Topic != "chat.quiet" {
		t.Fatalf("window %+v, want chat.busy (10, seq 10) then chat.quiet", w.Topics)
	}
	if want := 10 / TrafficWindow.Seconds(); w.Topics[0].Rate != want {
		t.Errorf("rate %v, want %v", w.Topics[0].Rate, want)
	}

	// The next window starts with both, counts at zero, seqs kept.
	w = tr.window(start.Add(2 * TrafficWindow))
	if len(w.Topics) != 2 || w.Topics[0].Publishes != 0 || w.Topics[0].Seq != 10 {
		t.Fatalf("carried window %+v, want both topics with no publishes and their last seq", w.Topics)
	}
}

// Publishes of the same millisecond recorded out of order keep the
// highest seq as the topic's last.
func TestTrafficKeepsTheLastSeqOfOneMillisecond(t *testing.T) {
	start := time.Unix(1000, 0)
	tr := newTraffic(start)
	at := start.UnixMilli()
	tr.record("t", PublishResult{Epoch: "e1", Seq: 8}, at)
	tr.record("t", PublishResult{Epoch: "e1", Seq: 7}, at)
	tr.record("t", PublishResult{Epoch: "e1", Seq: 6}, at-1)
	w := tr.window(start.Add(TrafficWindow))
	if len(w.Topics) != 1 || w.Topics[0].Seq != 8 || w.Topics[0].Publishes != 3 {
		t.Fatalf("window %+v, want seq 8 after 3 publishes", w.Topics)
	}
}

// TestTrafficStaysBounded publishes to far more topics than are tracked:
// the table keeps its bound, a window reports TrafficTop topics at most,
// the rest is counted as untracked, and a busy topic carried from the
// window before is still counted.
func TestTrafficStaysBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	tr := newTraffic(start)
	for i := 0; i < 5; i++ {
		tr.record("busy", PublishResult{Seq: uint64(i + 1)}, start.UnixMilli())
	}
	tr.window(start.Add(TrafficWindow)) // busy is carried into the next window

	const flood = 100_000
	for i := 0; i < flood; i++ {
		tr.record(fmt.Sprintf("flood.%d", i), PublishResult{Seq: 1}, start.UnixMilli())
	}
	tr.record("busy", PublishResult{Seq: 6}, start.UnixMilli()+1)
	tr.record("busy", PublishResult{Seq: 7}, start.UnixMilli()+2)

	tracked := 0
	for i := range tr.shards {
		if n := len(tr.shards[i].topics); n > trafficPerShard {
			t.Fatalf("shard %d tracks %d topics, bound %d", i, n, trafficPerShard)
		} else {
			tracked += n
		}
	}
	w := tr.window(start.Add(2 * TrafficWindow))
	if len(w.Topics) != TrafficTop {
		t.Fatalf("window reports %d topics, want %d", len(w.Topics), TrafficTop)
	}
	if w.Topics[0].Topic != "busy" || w.Topics[0].Publishes != 2 || w.Topics[0].Seq != 7 {
		t.Errorf("busiest %+v, want busy with 2 publishes, seq 7", w.Topics[0])
	}
	if want := uint64(flood - (tracked - 1)); w.Untracked != want {
		t.Errorf("untracked %d, want %d (%d tracked)", w.Untracked, want, tracked)
	}
}

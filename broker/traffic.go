package broker

import (
	"hash/maphash"
	"sort"
	"sync"
	"time"
)

// Bounds of the per-topic publish counts (Broker.TopicTraffic). A client
// that publishes to a million topics makes the broker track at most
// trafficShards*trafficPerShard of them, and report TrafficTop.
const (
	// TrafficTop is how many topics a traffic window reports, busiest
	// first; they are also the ones carried into the next window, so a
	// busy topic keeps its place whatever else is published.
	TrafficTop = 100
	// TrafficWindow is how long publishes are counted before the counts
	// are reported and started again.
	TrafficWindow = 2 * time.Second

	trafficShards   = 16
	trafficPerShard = 64 // 1,024 topics tracked at most, TrafficTop of them carried
)

// TopicTraffic is one topic's publishes through this node in the last
// traffic window.
type TopicTraffic struct {
	Topic     string
	Publishes uint64  // accepted in the window
	Rate      float64 // Publishes per second of the window
	Epoch     string  // of the last publish this node saw, in this window or before
	Seq       uint64  // its seq
	Time      int64   // its time, Unix milliseconds
}

// Traffic is the last complete traffic window.
type Traffic struct {
	Topics []TopicTraffic // at most TrafficTop, most publishes first
	// Untracked counts the window's publishes to topics that found no
	// room in the bounded table: they are in no Topics entry.
	Untracked uint64
}

// traffic counts publishes per topic, in a bounded table sharded so that
// concurrent publishes seldom share a lock. Each window ends when it is
// read after TrafficWindow; its busiest topics start the next one with
// no count but their last seq.
type traffic struct {
	seed   maphash.Seed
	shards [trafficShards]trafficShard

	mu      sync.Mutex // held while a window is closed and read
	started time.Time  // the current window's start
	last    Traffic    // the window closed last
}

type trafficShard struct {
	mu        sync.Mutex
	topics    map[string]*topicCount
	untracked uint64
}

type topicCount struct {
	publishes uint64
	epoch     string
	seq       uint64
	time      int64
}

func newTraffic(now time.Time) *traffic {
	t := &traffic{seed: maphash.MakeSeed(), started: now}
	for i := range t.shards {
		t.shards[i].topics = make(map[string]*topicCount)
	}
	return t
}

// record counts one accepted publish. A topic that finds its shard full
// is counted only as untracked until a window frees room.
func (t *traffic) record(topic string, res PublishResult, at int64) {
	s := &t.shards[maphash.String(t.seed, topic)%trafficShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.topics[topic]
	if c == nil {
		if len(s.topics) >= trafficPerShard {
			s.untracked++
			return
		}
		c = &topicCount{}
		s.topics[topic] = c
	}
	c.publishes++
	// Publishes of one millisecond may be recorded in any order: the
	// higher seq of the same epoch is the later.
	if at > c.time || at == c.time && (res.Epoch != c.epoch || res.Seq > c.seq) {
		c.epoch, c.seq, c.time = res.Epoch, res.Seq, at
	}
}

// window returns the last complete window, first closing the current one
// when it has lasted TrafficWindow.
func (t *traffic) window(now time.Time) Traffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	if elapsed := now.Sub(t.started); elapsed >= TrafficWindow {
		t.last = t.close(elapsed)
		t.started = now
	}
	return Traffic{Topics: append([]TopicTraffic(nil), t.last.Topics...), Untracked: t.last.Untracked}
}

// close takes every shard's counts, keeps the busiest TrafficTop, and
// carries those into the new window.
func (t *traffic) close(elapsed time.Duration) Traffic {
	var w Traffic
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		taken := s.topics
		s.topics = make(map[string]*topicCount, len(taken))
		w.Untracked += s.untracked
		s.untracked = 0
		s.mu.Unlock()
		for topic, c := range taken {
			w.Topics = append(w.Topics, TopicTraffic{Topic: topic, Publishes: c.publishes,
				Rate: float64(c.publishes) / elapsed.Seconds(), Epoch: c.epoch, Seq: c.seq, Time: c.time})
		}
	}
	sort.Slice(w.Topics, func(i, j int) bool { return busier(w.Topics[i], w.Topics[j]) })
	if len(w.Topics) > TrafficTop {
		w.Topics = w.Topics[:TrafficTop]
	}
	for _, tt := range w.Topics {
		t.carry(tt)
	}
	return w
}

// busier orders topics by publishes in the window, then by the latest
// publish, then by name.
func busier(a, b TopicTraffic) bool {
	if a.Publishes != b.Publishes {
		return a.Publishes > b.Publishes
	}
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	return a.Topic < b.Topic
}

// carry puts tt into the new window with no publishes yet, keeping its
// last seq. A publish recorded since the shard was emptied is newer.
func (t *traffic) carry(tt TopicTraffic) {
	s := &t.shards[maphash.String(t.seed, tt.Topic)%trafficShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.topics[tt.Topic]; c != nil {
		return
	}
	s.topics[tt.Topic] = &topicCount{epoch: tt.Epoch, seq: tt.Seq, time: tt.Time}
}

// TopicTraffic returns the publishes per topic through this node in the
// last complete window of TrafficWindow (a window lasts until it is read,
// so the rates are right however seldom this is called).
func (b *Broker) TopicTraffic() Traffic { return b.traffic.window(time.Now()) }

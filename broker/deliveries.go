package broker

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Deliveries per topic: which topics this node's fan-outs queue frames
// for. A node whose delivery is behind tells the other nodes of a cluster
// its busiest topics, so that they hold back only the publishes that add
// to its backlog (internal/node's lag sharing). A fan-out adds one count
// for all the frames it queued: one map update per message, none per
// subscriber, and none at all until somebody asks (MostDelivered).
//
// Bounded like the traffic table (traffic.go): a burst over thousands of
// topics tracks deliveryShards*deliveryPerShard of them and counts the
// rest as untracked, which only lowers the share the busiest cover.
const (
	deliveryShards   = 16
	deliveryPerShard = 64 // 1,024 topics tracked at most
)

type deliveryTally struct {
	on     atomic.Bool // counting: someone asked (MostDelivered)
	seed   maphash.Seed
	shards [deliveryShards]deliveryShard
}

// deliveryShard holds two windows: the counts since the last restart and
// those of the window before, so that what is reported right after a
// restart is not empty.
type deliveryShard struct {
	mu        sync.Mutex
	cur, prev deliveryCounts
}

type deliveryCounts struct {
	counts    map[string]uint64 // frames queued per topic; emptied, never replaced, so a refill allocates nothing
	untracked uint64            // frames of topics that found the shard full
	total     uint64            // frames counted, tracked or not
}

func newDeliveryTally() *deliveryTally {
	t := &deliveryTally{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].cur.counts = make(map[string]uint64, deliveryPerShard)
		t.shards[i].prev.counts = make(map[string]uint64, deliveryPerShard)
	}
	return t
}

// add counts n frames queued for topic by one fan-out.
func (t *deliveryTally) add(topic string, n uint64) {
	if n == 0 || !t.on.Load() {
		return
	}
	s := &t.shards[maphash.String(t.seed, topic)%deliveryShards]
	s.mu.Lock()
	w := &s.cur
	w.total += n
	if c, ok := w.counts[topic]; ok || len(w.counts) < deliveryPerShard {
		w.counts[topic] = c + n
	} else {
		w.untracked += n
	}
	s.mu.Unlock()
}

// both appends to all the counts of the shard's two windows, and returns
// them and their total.
func (s *deliveryShard) both(all []topicDeliveries) ([]topicDeliveries, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.cur.untracked + s.prev.untracked
	for topic, n := range s.cur.counts {
		n += s.prev.counts[topic]
		all = append(all, topicDeliveries{topic, n})
		total += n
	}
	for topic, n := range s.prev.counts {
		if _, ok := s.cur.counts[topic]; !ok {
			all = append(all, topicDeliveries{topic, n})
			total += n
		}
	}
	return all, total
}

type topicDeliveries struct {
	topic string
	n     uint64
}

// busiest returns the fewest topics, k at most, that had share of the
// frames counted, by name, or kept when it still had share with as few;
// false when k topics had less, or nothing was counted.
func (t *deliveryTally) busiest(k int, share float64, kept []string) ([]string, bool) {
	t.on.Store(true)
	var all []topicDeliveries
	var total uint64
	for i := range t.shards {
		var n uint64
		all, n = t.shards[i].both(all)
		total += n
	}
	if total == 0 {
		return nil, false
	}
	slices.SortFunc(all, func(a, b topicDeliveries) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.topic, b.topic)
	})
	var covered uint64
	for i, td := range all[:min(k, len(all))] {
		if covered += td.n; float64(covered) >= share*float64(total) {
			if len(kept) == i+1 && float64(framesOf(all, kept)) >= share*float64(total) {
				return kept, true // as few as the fewest: no need to change
			}
			top := make([]string, i+1)
			for j := range top {
				top[j] = all[j].topic
			}
			slices.Sort(top)
			return top, true
		}
	}
	return nil, false
}

// framesOf adds up the frames of the topics in sorted.
func framesOf(all []topicDeliveries, sorted []string) (n uint64) {
	for _, td := range all {
		if _, ok := slices.BinarySearch(sorted, td.topic); ok {
			n += td.n
		}
	}
	return n
}

// restart starts a new window and drops the one before the last; the
// maps keep their room (at most deliveryPerShard entries each), so
// counting again allocates nothing.
func (t *deliveryTally) restart() {
	t.on.Store(true)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		clear(s.prev.counts)
		s.prev.untracked, s.prev.total = 0, 0
		s.cur, s.prev = s.prev, s.cur
		s.mu.Unlock()
	}
}

// MostDelivered returns the fewest topics, k at most, for which this
// node's fan-outs queued share (0 to 1) of the frames they queued since
// the RestartDeliveryCounts before the last, sorted by name; false when
// k topics had less, or no frame was queued. kept is a list it returned
// before, or nil: while kept still had share with as few topics as the
// fewest that have it, it is returned as it is, so that a list shared
// with other nodes does not change with every small shift between topics,
// nor keep a topic that no longer counts. The counts span one to two restarts, so
// that they are never empty just after one. The first call of either
// starts the counting: a node nobody asks pays one atomic load a message.
func (b *Broker) MostDelivered(k int, share float64, kept []string) (topics []string, ok bool) {
	return b.deliveries.busiest(k, share, kept)
}

// RestartDeliveryCounts starts a new window of the counts of
// MostDelivered and drops the one before the last.
func (b *Broker) RestartDeliveryCounts() { b.deliveries.restart() }

// DeliveryWindows returns the frames counted since the last
// RestartDeliveryCounts and in the window before it.
func (b *Broker) DeliveryWindows() (current, previous uint64) {
	t := b.deliveries
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		current += s.cur.total
		previous += s.prev.total
		s.mu.Unlock()
	}
	return current, previous
}

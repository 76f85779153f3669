package broker

import (
	"container/heap"
	"sort"
)

// What the dashboard reads of this node, besides Stats and TopicTraffic.

// KeepsPresence reports whether topic keeps presence: a concrete topic
// under one of Config.PresenceTopics. The dashboard shows counts for
// those.
func (b *Broker) KeepsPresence(topic string) bool { return b.keepsPresence(topic) }

// BusiestTopics returns the n topics or patterns with most local
// subscribers, most first (then by name), and how many there are in all.
// It holds n of them at a time, however many there are.
func (b *Broker) BusiestTopics(n int) (top []TopicCount, total int) {
	if n <= 0 {
		return nil, b.countTopics()
	}
	h := make(fewestFirst, 0, n)
	b.idx.counts(func(p string, subs int) {
		total++
		tc := TopicCount{Topic: p, Subscribers: subs}
		switch {
		case len(h) < n:
			heap.Push(&h, tc)
		case busierCount(tc, h[0]):
			h[0] = tc
			heap.Fix(&h, 0)
		}
	})
	top = []TopicCount(h)
	sort.Slice(top, func(i, j int) bool { return busierCount(top[i], top[j]) })
	return top, total
}

func (b *Broker) countTopics() (total int) {
	b.idx.counts(func(string, int) { total++ })
	return total
}

// busierCount orders by subscribers, most first, then by name.
func busierCount(a, b TopicCount) bool {
	if a.Subscribers != b.Subscribers {
		return a.Subscribers > b.Subscribers
	}
	return a.Topic < b.Topic
}

// fewestFirst is a heap whose root is the least busy of the topics kept.
type fewestFirst []TopicCount

func (h fewestFirst) Len() int           { return len(h) }
func (h fewestFirst) Less(i, j int) bool { return busierCount(h[j], h[i]) }
func (h fewestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *fewestFirst) Push(x any)        { *h = append(*h, x.(TopicCount)) }
func (h *fewestFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

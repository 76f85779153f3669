package broker

import (
	"hash/maphash"
	"sync"
)

// TopicCount is a topic or pattern with the number of local connections
// subscribed to it.
type TopicCount struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// topicsChunk is about how many topics or patterns ListTopics copies out
// of the index at a time: some 24 KiB of them, where a node with hundreds
// of thousands of topics would copy megabytes to list them at once.
const topicsChunk = 1024

// maxListParts is the most parts one map is listed in, each a walk of the
// whole map: past maxListParts*topicsChunk entries its chunks grow
// instead, so that a listing costs at most this many walks of the index
// however large it is. The pattern map is not sharded: in parts of
// topicsChunk its 200,000 patterns took 2.4 s to list, 196 walks.
const maxListParts = 16

// ListTopics calls fn with every topic or pattern that has a local
// subscriber, a chunk of about topicsChunk at a time, in no set order,
// and stops at fn's first error, which it returns. No lock of the index
// is held while fn runs, so fn may write to a slow reader without
// holding up subscribes or fan-outs. A topic subscribed or left while
// the listing runs is listed or not, never twice. The chunk is valid
// until fn returns.
func (b *Broker) ListTopics(fn func([]TopicCount) error) error {
	var chunk []TopicCount
	for i := range b.idx.shards {
		sh := &b.idx.shards[i]
		if err := b.idx.listMap(&sh.mu, sh.topics, &chunk, fn); err != nil {
			return err
		}
	}
	t := &b.idx.patterns
	return b.idx.listMap(&t.mu, t.entries, &chunk, fn)
}

// listMap hands fn the entries of m, which mu guards, in parts of about
// topicsChunk, maxListParts at most: part k is the entries whose hash
// falls in k, so that each entry is in one part whatever comes or goes
// between two, and each part is found by a walk of the whole of m under
// mu's read side. The walks cost len(m) hashes each: an exact shard holds
// a 64th of the topics, so a node of a million hashes some 16 million,
// and of more, no more than 16 times its topics; the chunks of a map past
// maxListParts*topicsChunk entries are a maxListParts-th of it. chunk is
// the buffer, kept from one call to the next.
func (ix *index) listMap(mu *sync.RWMutex, m map[string]*entry, chunk *[]TopicCount, fn func([]TopicCount) error) error {
	mu.RLock()
	parts := uint64(min(len(m)/topicsChunk+1, maxListParts))
	mu.RUnlock()
	for part := range parts {
		c := (*chunk)[:0]
		mu.RLock()
		for p, e := range m {
			if parts == 1 || ix.listPart(p, parts) == part {
				c = append(c, TopicCount{Topic: p, Subscribers: len(e.subs)})
			}
		}
		mu.RUnlock()
		*chunk = c
		if len(c) == 0 {
			continue
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// listPart is the part of parts that topic is listed in. The hash's
// remainder by indexShards picks an exact topic's shard, so the quotient
// is what spreads a shard's topics.
func (ix *index) listPart(topic string, parts uint64) uint64 {
	return maphash.String(ix.seed, topic) / indexShards % parts
}

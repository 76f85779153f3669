package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/herald-broker/herald/broker"
)

// maxRetries bounds the removals Redis did not take that a node keeps to
// send again. They are bounded by the sessions that left while Redis was
// away; past the bound the oldest-looking ones are left to the node's
// death, or to a restart.
const maxRetries = 1 << 16

// errPresenceClosed is what presence calls on a closing engine wrap.
var errPresenceClosed = errors.New("herald/redis: engine closed")

// presKey names an entry.
type presKey struct{ topic, session string }

// presenceLocal is what a node knows of its own presence entries: enough
// to remove them when it closes, to add them again under a new life when
// its heartbeat lapsed (its entries may have been removed by the others),
// and to send again the removals Redis did not take.
type presenceLocal struct {
	// gate is held shared by every presence call, for its whole call, and
	// alone by what must see no call in between: a reclaim, a retry of
	// removals, Close's removal of everything.
	gate    sync.RWMutex
	closing bool // set under gate alone

	mu      sync.Mutex
	life    string
	entries map[presKey]broker.PresenceEntry
	topics  map[string]int  // entries per topic
	index   map[string]bool // the topics life's topic set in Redis holds
	retry   map[presKey]broker.PresenceEntry

	regMu      sync.Mutex // one heartbeat at a time
	registered bool       // life's heartbeat reached Redis; regMu guards it
	lapsed     bool       // a heartbeat found life lapsed: reclaim; regMu guards it
	othersLeft int64      // the last heartbeat's read of the others' time left, in ms; regMu guards it

	othersLapse atomic.Int64 // of the other live nodes, as noteOthers last read it (slowestLapse)

	lostQueued lostQueueds // leaves of lost joins reported and not queued yet (presence_lost_queue.go)

	resynced    atomic.Uint64 // the reconnect count the entries were last checked against Redis at
	reconnected chan struct{} // a pub/sub connection was replaced: keepPresence checks the entries at once

	dead atomic.Bool // tests: stopped as a process that died would
}

func newPresenceLocal() presenceLocal {
	return presenceLocal{
		life:    newEpoch(),
		entries: make(map[presKey]broker.PresenceEntry),
		topics:  make(map[string]int),
		index:   make(map[string]bool),
		retry:   make(map[presKey]broker.PresenceEntry),

		reconnected: make(chan struct{}, 1),
	}
}

// noteReconnect tells keepPresence that a pub/sub connection was
// replaced, which a failover or a restart of Redis causes, so that it
// checks the node's entries against Redis now (resyncAfterReconnect)
// rather than at its next heartbeat, up to a third of the lapse later.
// Reconnects that come while one is noted make one check.
func (p *presenceLocal) noteReconnect() {
	select {
	case p.reconnected <- struct{}{}:
	default:
	}
}

// enter starts a presence call, and returns what ends it; it fails once
// Close began removing the node's entries.
func (p *presenceLocal) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.gate.RLock()
	if p.closing {
		p.gate.RUnlock()
		return nil, broker.Unavailable(errPresenceClosed)
	}
	return p.gate.RUnlock, nil
}

// currentLife returns the life the node's entries are added under.
func (p *presenceLocal) currentLife() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.life
}

// note records e and returns the life to add it under, whether it is new
// here, and whether its topic must be put in the life's topic set first.
func (p *presenceLocal) note(e broker.PresenceEntry) (life string, fresh, index bool) {
	k := presKey{e.Topic, e.Session}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.retry, k)
	if _, ok := p.entries[k]; !ok {
		p.entries[k] = e
		p.topics[e.Topic]++
		fresh = true
	}
	return p.life, fresh, !p.index[e.Topic]
}

// indexed notes that life's topic set holds topic.
func (p *presenceLocal) indexed(life, topic string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if life == p.life {
		p.index[topic] = true
	}
}

// forget takes back a note of e whose add failed, if it was fresh.
func (p *presenceLocal) forget(e broker.PresenceEntry, fresh bool) {
	if fresh {
		p.drop(e)
	}
}

// drop forgets e and returns the life to remove it under.
func (p *presenceLocal) drop(e broker.PresenceEntry) string {
	k := presKey{e.Topic, e.Session}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.entries[k]; ok {
		delete(p.entries, k)
		if p.topics[e.Topic]--; p.topics[e.Topic] <= 0 {
			delete(p.topics, e.Topic)
		}
	}
	return p.life
}

// retryLater keeps e's removal, which Redis did not take, to send again.
func (p *presenceLocal) retryLater(e broker.PresenceEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.retry) < maxRetries {
		p.retry[presKey{e.Topic, e.Session}] = broker.PresenceEntry{Topic: e.Topic, Session: e.Session}
	}
}

// entryTopics returns the topics where the node holds entries.
func (p *presenceLocal) entryTopics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	topics := make([]string, 0, len(p.topics))
	for t := range p.topics {
		topics = append(topics, t)
	}
	return topics
}

// snapshot returns the node's entries and the removals to send again.
func (p *presenceLocal) snapshot() (entries, retry []broker.PresenceEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.entries) > 0 {
		entries = make([]broker.PresenceEntry, 0, len(p.entries))
	}
	for _, e := range p.entries {
		entries = append(entries, e)
	}
	for _, e := range p.retry {
		retry = append(retry, e)
	}
	return entries, retry
}

// removed forgets the retried removal of e, which Redis took.
func (p *presenceLocal) removed(e broker.PresenceEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.retry, presKey{e.Topic, e.Session})
}

// renew starts a new life, with an empty topic set, and returns it.
func (p *presenceLocal) renew() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.life = newEpoch()
	clear(p.index)
	return p.life
}

// idleTopics returns the topics in life's topic set with no entry of this
// node (nor a removal to send again) once the set holds more than 1024
// topics past twice those with an entry: they are worth taking out of
// Redis's set, in bulk. Below that they stay (docs/protocol.md section 12).
func (p *presenceLocal) idleTopics() (string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.index) <= 2*len(p.topics)+1024 {
		return p.life, nil
	}
	busy := make(map[string]bool, len(p.retry))
	for k := range p.retry {
		busy[k.topic] = true
	}
	var idle []string
	for t := range p.index {
		if p.topics[t] == 0 && !busy[t] {
			idle = append(idle, t)
		}
	}
	return p.life, idle
}

// unindex notes that topics left life's topic set.
func (p *presenceLocal) unindex(life string, topics []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if life == p.life {
		for _, t := range topics {
			delete(p.index, t)
		}
	}
}

// indexedTopics returns the topics in the life's topic set.
func (p *presenceLocal) indexedTopics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.index))
	for t := range p.index {
		out = append(out, t)
	}
	return out
}

// strays returns the entries of topic among sessions that this node does
// not hold.
func (p *presenceLocal) strays(topic string, sessions []string) []broker.PresenceEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []broker.PresenceEntry
	for _, s := range sessions {
		if _, ok := p.entries[presKey{topic, s}]; !ok {
			out = append(out, broker.PresenceEntry{Topic: topic, Session: s})
		}
	}
	return out
}

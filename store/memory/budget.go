package memory

import "sync"

// bareShare: topic states that hold no history may take up to 1/bareShare
// of the budget before the least recently published of them are dropped
// ahead of other topics' history. Their seq, epoch and idempotency keys
// are worth keeping (publishes go on numbering, retries stay safe), but
// without a share of their own a flood of one-message topics would, once
// every history was drained, keep nothing but states: every topic would
// lose its history within a publish or two.
const bareShare = 4

// budget is the account of what all topics hold (Config.MaxHistoryBytes)
// and the order in which they give it back: two lists of topics by last
// publish, most recent first. A topic is on exactly one: hist while it
// holds messages, bare otherwise. A topic enters hist only by a publish,
// at the front, and leaves it only from the tail, so both lists stay in
// publish order at O(1) per publish.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	hist  lruList
	bare  lruList

	// Counted for Stats, under mu.
	historyEvictions uint64 // topics that lost history to the limit (whole or oldest part)
	messagesEvicted  uint64 // messages dropped so
	topicEvictions   uint64 // topic states dropped so
	keysEvicted      uint64 // idempotency keys forgotten early, by the limit or the per-topic bound
	keys             int    // idempotency keys charged
	topics           int    // topic states charged (on a list)
}

// lruList is an intrusive doubly linked list of topics, head most recent.
type lruList struct {
	head, tail *topic
	bytes      int64 // what its topics are charged
}

// charge brings the account of t up to date after its contents changed.
// Callers hold t.mu and b.mu.
func (b *budget) charge(t *topic) {
	delta := t.cost() - t.charged
	t.charged += delta
	b.used += delta
	if t.list != nil {
		t.list.bytes += delta
	}
	b.keys += t.keys.len() - t.keysCharged
	t.keysCharged = t.keys.len()
}

// touch puts t at the front of the list its contents call for: t was just
// published to, or lost its history as the least recently published topic
// that held any (so it is more recent than every topic on bare). Callers
// hold t.mu and b.mu.
func (b *budget) touch(t *topic) {
	l := &b.bare
	if t.history.n > 0 {
		l = &b.hist
	}
	switch {
	case t.list == l && l.head == t:
		return // a busy topic mostly is already first
	case t.list == nil:
		b.topics++
	default:
		t.list.remove(t)
	}
	l.pushFront(t)
}

// retire puts t, which holds no history, at the tail of bare: it outlived
// its TTL and only its idempotency keys keep it. Callers hold t.mu and b.mu.
func (b *budget) retire(t *topic) {
	t.list.remove(t)
	b.bare.pushBack(t)
}

// forget takes t off the account. Callers hold t.mu and b.mu.
func (b *budget) forget(t *topic) {
	if t.list != nil {
		t.list.remove(t)
		b.topics--
	}
	b.used -= t.charged
	b.keys -= t.keysCharged
	t.charged, t.keysCharged = 0, 0
}

func (l *lruList) pushFront(t *topic) {
	t.list, t.prev, t.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = t
	} else {
		l.tail = t
	}
	l.head = t
	l.bytes += t.charged
}

func (l *lruList) pushBack(t *topic) {
	t.list, t.prev, t.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
	l.bytes += t.charged
}

func (l *lruList) remove(t *topic) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	l.bytes -= t.charged
	t.list, t.prev, t.next = nil, nil, nil
}

// lockFromTail returns the least recently published topic of l other than
// self whose mu (and publishMu too, when whole: its state is to go, and a
// delivery of it must not overlap the next state's) it could take without
// waiting, locked; nil when there is none. A topic someone holds is in use
// and skipped: waiting for it here could deadlock, and it is among the
// most recent anyway.
func (l *lruList) lockFromTail(self *topic, whole bool) *topic {
	for v := l.tail; v != nil; v = v.prev {
		if v == self || !v.mu.TryLock() {
			continue
		}
		if !whole || v.publishMu.TryLock() {
			return v
		}
		v.mu.Unlock()
	}
	return nil
}

package memory

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// webhookQueue is the webhooks' state on one node (docs/protocol.md
// section 11): which topics are held and by which node, the topics
// waiting to be vacated, and the events the backend has not taken yet.
// It lives and dies with the process: one node has nobody to hand it to.
// The zero value is ready.
type webhookQueue struct {
	mu       sync.Mutex
	holders  map[string]map[string][]byte // topic -> nodes with subscribers -> its topic_vacated
	vacating map[string]vacating          // topic -> its wait
	silent   map[string]struct{}          // held topics whose topic_occupied was dropped
	events   [][]byte                     // oldest first
	acked    uint64                       // events taken out of the queue so far
}

type vacating struct {
	due   time.Time
	event []byte
}

// OccupyTopic records that node has subscribers to topic, and queues
// event when no node had any and the topic was not waiting to be vacated.
// With the queue at max or maxWaiting topics waiting, the topic is held
// silent: neither its topic_occupied nor its topic_vacated is queued.
func (e *Engine) OccupyTopic(_ context.Context, topic, node string, occupied, vacated []byte, max, maxWaiting int) (bool, error) {
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.holders == nil {
		q.holders = make(map[string]map[string][]byte)
	}
	nodes := q.holders[topic]
	if nodes == nil {
		nodes = make(map[string][]byte)
		q.holders[topic] = nodes
	}
	if _, ok := nodes[node]; ok {
		return false, nil
	}
	nodes[node] = vacated
	if len(nodes) > 1 {
		return false, nil
	}
	if _, waiting := q.vacating[topic]; waiting {
		delete(q.vacating, topic) // back within the delay: neither event
		return false, nil
	}
	if len(q.vacating) >= maxWaiting || !q.pushLocked(occupied, max) {
		if q.silent == nil {
			q.silent = make(map[string]struct{})
		}
		q.silent[topic] = struct{}{}
		return true, nil
	}
	return false, nil
}

// VacateTopic records that node has no subscriber to topic left; when no
// node has any, the topic waits to be vacated until due.
func (e *Engine) VacateTopic(_ context.Context, topic, node string, due time.Time, event []byte) error {
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	nodes := q.holders[topic]
	delete(nodes, node)
	if len(nodes) > 0 {
		return nil
	}
	delete(q.holders, topic)
	q.waitLocked(topic, due, event)
	return nil
}

// waitLocked starts topic's wait to be vacated, unless it was held
// silent: the backend never heard of it.
func (q *webhookQueue) waitLocked(topic string, due time.Time, event []byte) {
	if _, ok := q.silent[topic]; ok {
		delete(q.silent, topic)
		return
	}
	if q.vacating == nil {
		q.vacating = make(map[string]vacating)
	}
	q.vacating[topic] = vacating{due: due, event: event}
}

// NodeAlive does nothing: one node never outlives itself.
func (e *Engine) NodeAlive(context.Context, string, time.Duration) error { return nil }

// ReleaseNodes takes node, when not "", out of the holders of its
// topics: the process's node starting again finds nothing held, so this
// only matters to an engine shared by several Webhooks (tests). One
// process has no connection that outlives it: nothing is queued for them.
func (e *Engine) ReleaseNodes(_ context.Context, node string, delay time.Duration, _ int) (int, error) {
	if node == "" {
		return 0, nil
	}
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	for topic, nodes := range q.holders {
		vacated, ok := nodes[node]
		if !ok {
			continue
		}
		delete(nodes, node)
		if len(nodes) == 0 {
			delete(q.holders, topic)
			q.waitLocked(topic, time.Now().Add(delay), vacated)
		}
	}
	return 0, nil
}

// QueueVacated queues the event of every topic whose wait ended by now.
// While the topic events' share of the queue (maxVacated) is full the
// rest wait for room: their topic_occupied went out, and dropping them
// would leave the backend with topics occupied for good.
func (e *Engine) QueueVacated(_ context.Context, now time.Time, maxVacated, _ int) (int, error) {
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	for topic, v := range q.vacating {
		if v.due.After(now) {
			continue
		}
		if !q.pushLocked(v.event, maxVacated) {
			break
		}
		delete(q.vacating, topic)
	}
	return 0, nil
}

// AddClient does nothing: one process's connections end with it, and
// nobody is left to report them.
func (e *Engine) AddClient(context.Context, string, string, []byte) error { return nil }

// RemoveClient queues event.
func (e *Engine) RemoveClient(ctx context.Context, _, _ string, event []byte, max int) (bool, error) {
	return e.QueueEvent(ctx, event, max)
}

// QueueMember queues event: one node reports its members' changes in
// the order it decides them, so none is held.
func (e *Engine) QueueMember(ctx context.Context, _ string, _, _ uint64, event []byte, _ time.Duration, max int) (int, error) {
	if dropped, _ := e.QueueEvent(ctx, event, max); dropped {
		return 1, nil
	}
	return 0, nil
}

// QueueEvent queues event.
func (e *Engine) QueueEvent(_ context.Context, event []byte, max int) (bool, error) {
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.pushLocked(event, max), nil
}

// pushLocked queues event unless the queue holds max; false: dropped.
func (q *webhookQueue) pushLocked(event []byte, max int) bool {
	if len(q.events) >= max {
		return false
	}
	q.events = append(q.events, event)
	return true
}

// NextEvents gives the oldest events, at most n; the only node is always
// the sender, and no other ever was. The cursor is the count of events
// acknowledged once these are.
func (e *Engine) NextEvents(_ context.Context, _ string, n int, _ time.Duration) ([][]byte, string, bool, bool, error) {
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.events[:min(n, len(q.events))]
	return append([][]byte(nil), batch...), strconv.FormatUint(q.acked+uint64(len(batch)), 10), true, false, nil
}

// AckEvents takes the events up to cursor out of the queue.
func (e *Engine) AckEvents(_ context.Context, _, cursor string) error {
	upto, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil {
		return err
	}
	q := &e.webhooks
	q.mu.Lock()
	defer q.mu.Unlock()
	if upto > q.acked {
		n := min(int(upto-q.acked), len(q.events))
		clear(q.events[:n])
		q.events = q.events[n:]
		q.acked += uint64(n)
	}
	return nil
}

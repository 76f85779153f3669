package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The webhooks' state (docs/protocol.md section 11) lives under one hash
// tag, {webhooks}, so that on Cluster it is one slot and every change of
// a topic's occupancy and the event it causes are one script: the event
// queue then holds each topic's events in the order their changes
// happened, whichever nodes made them. It is not kept in the topic's slot
// as the topic's other keys are because that would split the change from
// its event across slots. Occupancy changes only when a node gains its
// first subscriber to a topic or loses its last, not per message, so one
// slot carries it.
//
//	{webhooks}:events     stream, field e: the queued events, oldest first
//	{webhooks}:sender     string: the node that sends them, with a TTL (the lease)
//	{webhooks}:occ:TOPIC  hash: the nodes with subscribers to TOPIC
//	{webhooks}:vac        hash: TOPIC -> its topic_vacated, while it waits
//	{webhooks}:due        sorted set: TOPIC scored by when its wait ends (ms)
//	{webhooks}:silent     set: held TOPICs whose topic_occupied was dropped, so none of their events goes
//	{webhooks}:nodes      sorted set: NODE scored by when its heartbeat lapses (ms, Redis's clock)
//	{webhooks}:held:NODE  hash: TOPIC -> its topic_vacated, for the topics NODE holds
//	{webhooks}:conns:NODE hash: SESSION -> its client_disconnected should NODE die
//	{webhooks}:m...       the order of member events (webhook_members.go)
func (k keys) webhooks(name string) string { return k.prefix + "{webhooks}:" + name }

// OccupyTopic records that node has subscribers to topic, and queues
// event when no node had any and the topic was not waiting to be vacated.
// With the queue at max or maxWaiting topics waiting, the topic is held
// silent: neither its topic_occupied nor its topic_vacated is queued.
func (e *Engine) OccupyTopic(ctx context.Context, topic, node string, occupied, vacated []byte, max, maxWaiting int) (bool, error) {
	e.held.gate.RLock()
	defer e.held.gate.RUnlock()
	if err := e.checkFirst(ctx, node, topic); err != nil {
		e.held.troubles.Add(1)
		return false, e.fail("check an occupied topic against Redis", err)
	}
	k := e.keys
	n, err := e.runWebhook(ctx, occupyScript,
		[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"),
			k.webhooks("held:" + node), k.webhooks("silent")},
		node, topic, occupied, max, vacated, maxWaiting).Int()
	if err != nil {
		e.held.troubles.Add(1)
		return false, e.fail("occupy topic", err)
	}
	e.held.hold(node, topic, heldTopic{occupied: occupied, vacated: vacated, max: max, maxWaiting: maxWaiting})
	return n < 0, nil
}

// VacateTopic records that node has no subscriber to topic left; when no
// node has any, the topic waits to be vacated until due.
//
// A vacating tried again after its call failed lets the topic go at once,
// as a resync lets a stray topic go (webhook_held.go): the call may have
// run on a master that died before its replica confirmed it, after the
// wait ended and the sender sent topic_vacated (the sender reads the
// master as it is). Another wait would then be cancelled by a subscriber
// who comes within it, and the backend, told the topic was vacated, would
// never be told it is occupied again. The topic_vacated queued at once is
// left out by the sender when it repeats the last one sent.
func (e *Engine) VacateTopic(ctx context.Context, topic, node string, due time.Time, event []byte) error {
	e.held.gate.RLock()
	defer e.held.gate.RUnlock()
	if err := e.checkFirst(ctx, node, topic); err != nil {
		e.held.troubles.Add(1)
		return e.fail("check a vacated topic against Redis", err)
	}
	k := e.keys
	call := scriptRun{vacateScript,
		[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("held:" + node), k.webhooks("silent")},
		[]any{node, topic, due.UnixMilli(), event}}
	if e.held.leavingUnsure(node, topic) {
		call = scriptRun{strayScript,
			[]string{k.webhooks("occ:" + topic), k.webhooks("held:" + node), k.webhooks("silent"), k.webhooks("events")},
			[]any{node, topic, event}}
	}
	if err := e.runWebhook(ctx, call.script, call.keys, call.args...).Err(); err != nil {
		e.held.troubles.Add(1)
		e.held.failedToLeave(node, topic)
		return e.fail("vacate topic", err)
	}
	e.held.leave(node, topic)
	return nil
}

// QueueVacated queues the event of every topic whose wait ended by now,
// and the member events held past their wait (webhook_members.go).
func (e *Engine) QueueVacated(ctx context.Context, now time.Time, maxVacated, max int) (int, error) {
	k := e.keys
	n, err := vacatedScript.Run(ctx, e.rdb,
		[]string{k.webhooks("vac"), k.webhooks("due"), k.webhooks("events")},
		now.UnixMilli(), maxVacated, k.webhooks("occ:")).Int()
	if err != nil {
		return 0, e.fail("queue vacated topics", err)
	}
	held, err := e.queueOverdueMembers(ctx, max)
	return n + held, err
}

// NodeAlive records that node runs, until ttl from now on Redis's clock.
func (e *Engine) NodeAlive(ctx context.Context, node string, ttl time.Duration) error {
	if err := aliveScript.Run(ctx, e.rdb, []string{e.keys.webhooks("nodes")}, node, ttl.Milliseconds()).Err(); err != nil {
		e.held.troubles.Add(1)
		return e.fail("webhook heartbeat", err)
	}
	return nil
}

// ReleaseNodes takes the nodes whose heartbeat lapsed, and node when not
// "", out of the holders of their topics.
func (e *Engine) ReleaseNodes(ctx context.Context, node string, delay time.Duration, max int) (int, error) {
	k := e.keys
	n, err := releaseScript.Run(ctx, e.rdb,
		[]string{k.webhooks("nodes"), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"), k.webhooks("silent")},
		node, delay.Milliseconds(), k.webhooks("occ:"), k.webhooks("held:"), k.webhooks("conns:"), max).Int()
	if err != nil {
		return 0, e.fail("release the topics and connections of stopped nodes", err)
	}
	return n, nil
}

// AddClient records that node has the connection session, with the event
// to queue should node die with it.
func (e *Engine) AddClient(ctx context.Context, node, session string, lost []byte) error {
	if err := e.runWebhook(ctx, addClientScript, []string{e.keys.webhooks("conns:" + node)}, session, lost).Err(); err != nil {
		return e.fail("record a connection", err)
	}
	return nil
}

// RemoveClient forgets session and queues event in one step.
func (e *Engine) RemoveClient(ctx context.Context, node, session string, event []byte, max int) (bool, error) {
	n, err := e.runWebhook(ctx, removeClientScript, []string{e.keys.webhooks("conns:" + node), e.keys.webhooks("events")},
		session, event, max).Int()
	if err != nil {
		return false, e.fail("queue a connection's end", err)
	}
	return n == 0, nil
}

// QueueEvent queues event.
func (e *Engine) QueueEvent(ctx context.Context, event []byte, max int) (bool, error) {
	n, err := e.runWebhook(ctx, queueScript, []string{e.keys.webhooks("events")}, event, max).Int()
	if err != nil {
		return false, e.fail("queue event", err)
	}
	return n == 0, nil
}

// NextEvents gives node, when it holds or takes the sender's lease, the
// oldest events, at most n, and whether another node took the lease since
// node last held it. The cursor names their stream ids.
func (e *Engine) NextEvents(ctx context.Context, node string, n int, lease time.Duration) ([][]byte, string, bool, bool, error) {
	k := e.keys
	res, err := nextScript.Run(ctx, e.rdb, []string{k.webhooks("sender"), k.webhooks("events"), k.webhooks("lastsender"), k.webhooks("waiting"), k.webhooks("senderterm")},
		node, lease.Milliseconds(), n, takeoverWait(lease).Milliseconds()).Slice()
	if err == goredis.Nil {
		return nil, "", false, false, nil
	}
	if err != nil {
		e.held.troubles.Add(1)
		return nil, "", false, false, e.fail("read webhook events", err)
	}
	term, _ := res[0].(int64)
	entries, _ := res[1].([]any)
	events := make([][]byte, 0, len(entries))
	ids := make([]string, 0, len(entries))
	for _, entry := range entries {
		id, ev, err := streamEntry(entry)
		if err != nil {
			return nil, "", false, false, err
		}
		events, ids = append(events, ev), append(ids, id)
	}
	return events, strings.Join(ids, " "), true, e.terms.changed(node, term), nil
}

// senderTerms is the sender's term each node name last read here. The
// term, not whether this read took the lease from another node, says
// whether another sent meanwhile: a read whose answer was lost (a
// timeout) may have taken the lease, and the next read, finding node the
// last sender already, would say no other sent, while the node still
// remembered what it sent before the other.
type senderTerms struct {
	mu   sync.Mutex
	seen map[string]int64
}

// changed notes term as node's, and reports whether node read another
// before (or none yet).
func (s *senderTerms) changed(node string, term int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.seen[node]
	if s.seen == nil {
		s.seen = make(map[string]int64)
	}
	s.seen[node] = term
	return !ok || last != term
}

// takeoverWait is how long a node waits, once it found the sender's lease
// lapsed, before it takes it from the node that sent last: a quarter of
// the lease, and at least 2 s, twice the pace at which a sender tries
// again to read a queue it could not (api/hooks), so that the sender that
// comes back from a failover takes it again first.
func takeoverWait(lease time.Duration) time.Duration { return max(lease/4, 2*time.Second) }

// streamEntry reads one XRANGE entry, [id, [field, value, ...]].
func streamEntry(entry any) (string, []byte, error) {
	pair, ok := entry.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, fmt.Errorf("herald/redis: a webhook event entry is %T", entry)
	}
	id, _ := pair[0].(string)
	fields, _ := pair[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if f, _ := fields[i].(string); f == "e" {
			v, _ := fields[i+1].(string)
			return id, []byte(v), nil
		}
	}
	return "", nil, fmt.Errorf("herald/redis: webhook event %s has no event", id)
}

// AckEvents deletes the events of cursor while node holds the lease.
func (e *Engine) AckEvents(ctx context.Context, node, cursor string) error {
	if cursor == "" {
		return nil
	}
	args := []any{node}
	for _, id := range strings.Fields(cursor) {
		args = append(args, id)
	}
	if err := ackScript.Run(ctx, e.rdb, []string{e.keys.webhooks("sender"), e.keys.webhooks("events")}, args...).Err(); err != nil {
		return e.fail("acknowledge webhook events", err)
	}
	return nil
}

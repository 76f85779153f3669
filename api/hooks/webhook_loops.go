package hooks

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// storeTimeout bounds one call to the store.
const storeTimeout = 5 * time.Second

// recorders is how many goroutines hand reports to the store at once.
// Each report costs a round trip to Redis; one goroutine would bound a
// node to one report per round trip (tens of thousands a second at best,
// and every connection makes two). Reports of one topic, or one session,
// always go to the same recorder, so they reach the store in order.
const recorders = 8

// recorderOf picks the recorder of a report's key (FNV-1a).
func recorderOf(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % recorders)
}

// record hands the broker's reports to the store until Close; what is
// buffered then is handed over before it returns. What this node's name
// held before it started is released first, so that nothing this node
// records now is taken for the past.
func (w *Webhooks) record() {
	defer w.wg.Done()
	w.keep(report{kind: reportRestart})
	var wg sync.WaitGroup
	for _, ch := range w.reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.recordFrom(ch)
		}()
	}
	wg.Wait()
}

// recordFrom is one recorder: it keeps the reports of ch in order.
func (w *Webhooks) recordFrom(ch chan report) {
	for {
		select {
		case r := <-ch:
			w.keep(r)
		case <-w.stop:
			for {
				select {
				case r := <-ch:
					w.keep(r)
				default:
					return
				}
			}
		}
	}
}

// keep writes one report to the store, trying again with backoff while
// the store fails, until it succeeds or Close gives up.
func (w *Webhooks) keep(r report) {
	var backoff time.Duration
	for {
		err := w.keepOnce(r)
		if err == nil {
			return
		}
		backoff = nextBackoff(backoff, time.Second)
		w.log.Warn("webhook event not stored yet; trying again", zap.Duration("in", backoff), zap.Error(err))
		select {
		case <-time.After(backoff):
		case <-w.ctx.Done():
			w.dropped(1, "the node stopped before the engine took it")
			return
		}
	}
}

func (w *Webhooks) keepOnce(r report) error {
	ctx, cancel := context.WithTimeout(w.ctx, storeTimeout)
	defer cancel()
	var dropped bool
	var err error
	switch r.kind {
	case reportHeld:
		dropped, err = w.cfg.Store.OccupyTopic(ctx, r.topic, w.cfg.Node, r.event, r.other, w.maxOccupancy(), w.maxOccupancy())
		if dropped {
			w.dropped(1, "the queue's share for topic events, or the topics waiting to be vacated, is full: the topic gets neither topic_occupied nor topic_vacated")
			return err
		}
	case reportLeft:
		err = w.cfg.Store.VacateTopic(ctx, r.topic, w.cfg.Node, time.Now().Add(w.cfg.VacatedDelay), r.event)
	case reportConnected:
		err = w.cfg.Store.AddClient(ctx, w.cfg.Node, r.topic, r.event)
	case reportDisconnected:
		dropped, err = w.cfg.Store.RemoveClient(ctx, w.cfg.Node, r.topic, r.event, w.cfg.MaxQueued)
	case reportRestart:
		// What this node's name held before it started is not held now.
		err = w.releaseNodes(ctx, w.cfg.Node)
	case reportMember:
		var n int
		n, err = w.cfg.Store.QueueMember(ctx, r.topic, r.after, r.seq, r.event, memberHold, w.cfg.MaxQueued)
		if n > 0 {
			w.dropped(n, "the queue is full: the backend has not taken the events before it")
		}
	default:
		dropped, err = w.cfg.Store.QueueEvent(ctx, r.event, w.cfg.MaxQueued)
	}
	if dropped {
		w.dropped(1, "the queue is full: the backend has not taken the events before it")
	}
	return err
}

// send sends the queue to the backend while this node is the cluster's
// sender, until Close.
func (w *Webhooks) send() {
	defer w.wg.Done()
	var backoff time.Duration
	for {
		wait := w.sendOnce(&backoff)
		select {
		case <-w.stop:
			return
		case <-time.After(wait):
		}
	}
}

// sendOnce takes one step and returns how long to wait before the next.
func (w *Webhooks) sendOnce(backoff *time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(w.ctx, storeTimeout)
	events, cursor, sender, others, err := w.cfg.Store.NextEvents(ctx, w.cfg.Node, maxBatch, w.cfg.Lease)
	cancel()
	if err != nil {
		w.log.Warn("webhook queue not read", zap.Error(err))
		return time.Second
	}
	w.keepAlive(sender)
	w.members.age(time.Now())
	if !sender {
		return w.cfg.Lease / 3
	}
	if others {
		w.members.forget()
	}
	w.queueVacated()
	if len(events) == 0 {
		return idlePoll
	}
	send, members := w.members.withoutRepeats(events)
	if len(send) > 0 && !w.post(send) {
		*backoff = nextBackoff(*backoff, min(maxBackoff, w.cfg.Lease/2))
		return *backoff
	}
	*backoff = 0
	now := time.Now()
	for k, added := range members {
		w.members.remember(k, added, now)
	}
	ctx, cancel = context.WithTimeout(w.ctx, storeTimeout)
	defer cancel()
	if err := w.cfg.Store.AckEvents(ctx, w.cfg.Node, cursor); err != nil {
		// The batch stays queued and goes again: at least once.
		w.log.Warn("webhook batch sent but not taken out of the queue", zap.Error(err))
	}
	return 0
}

// keepAlive tells the store, a few times a lease, that this node runs;
// the sender also releases the topics of nodes that stopped saying so
// (they died holding them), so that those topics can be vacated.
func (w *Webhooks) keepAlive(sender bool) {
	if time.Since(w.lastAlive) < w.cfg.Lease/3 {
		return
	}
	w.lastAlive = time.Now()
	ctx, cancel := context.WithTimeout(w.ctx, storeTimeout)
	defer cancel()
	if err := w.cfg.Store.NodeAlive(ctx, w.cfg.Node, w.cfg.Lease); err != nil {
		w.aliveSince = time.Time{}
		w.log.Warn("node heartbeat not recorded", zap.Error(err))
		return
	}
	// A heartbeat that comes more than a lease after the last one that went
	// through starts the count again, as a failed one does: the store was
	// out meanwhile for this node (its reads of the queue failed, and those
	// skip the heartbeat), so the other nodes' heartbeats may have lapsed
	// too. Counted from before the outage, the sender released a live node
	// as soon as the store came back (after a failover of the {webhooks}
	// master longer than the lease), and that node, not told, held its
	// topics in nobody's record: topic_vacated went out while it had
	// subscribers.
	now := time.Now()
	if w.aliveSince.IsZero() || now.Sub(w.aliveAt) > w.cfg.Lease {
		w.aliveSince = now
	}
	w.aliveAt = now
	// Only once this node's own heartbeats went through for a lease: after
	// an outage of the store every node's heartbeat lapsed, and the first
	// back must not take the others for dead.
	if !sender || time.Since(w.aliveSince) < w.cfg.Lease {
		return
	}
	if err := w.releaseNodes(ctx, ""); err != nil {
		w.log.Warn("topics and connections of stopped nodes not released", zap.Error(err))
	}
}

// releaseNodes runs the store's ReleaseNodes, counting what it dropped.
func (w *Webhooks) releaseNodes(ctx context.Context, node string) error {
	dropped, err := w.cfg.Store.ReleaseNodes(ctx, node, w.cfg.VacatedDelay, w.cfg.MaxQueued)
	if dropped > 0 {
		w.dropped(dropped, "the queue is full: the backend has not taken the events before it")
	}
	return err
}

// maxOccupancy is how many events the queue may hold for a
// topic_occupied or topic_vacated to be queued, and how many topics may
// wait to be vacated for another to be reported occupied
// (occupancyShare).
func (w *Webhooks) maxOccupancy() int {
	return max(1, w.cfg.MaxQueued/occupancyShare)
}

// queueVacated queues the topic_vacated of topics whose wait ended. Only
// the sender runs it, so the cluster does it once.
func (w *Webhooks) queueVacated() {
	ctx, cancel := context.WithTimeout(w.ctx, storeTimeout)
	defer cancel()
	dropped, err := w.cfg.Store.QueueVacated(ctx, time.Now(), w.maxOccupancy(), w.cfg.MaxQueued)
	if err != nil {
		w.log.Warn("vacated topics not checked", zap.Error(err))
	}
	if dropped > 0 {
		w.dropped(dropped, "the queue is full: the backend has not taken the events before it")
	}
}

// post sends one batch and reports whether the backend took it (2xx).
func (w *Webhooks) post(events [][]byte) bool {
	body := batchBody(time.Now(), events)
	start := time.Now()
	ans, err := w.client.post(w.ctx, w.cfg.URL, body)
	switch {
	case err != nil:
		w.client.metrics.observe(HookWebhook, outcomeOf(err), time.Since(start))
		w.log.Warn("webhook batch not sent; it will be sent again", zap.Int("events", len(events)), zap.Error(err))
		return false
	case ans.status < 200 || ans.status > 299:
		w.client.metrics.observe(HookWebhook, OutcomeRefused, time.Since(start))
		w.log.Warn("webhook batch refused; it will be sent again", zap.Int("events", len(events)), zap.Int("status", ans.status))
		return false
	}
	w.client.metrics.observe(HookWebhook, OutcomeOK, time.Since(start))
	w.client.metrics.webhookDelivered.Add(float64(len(events)))
	return true
}

// batchBody is {"time_ms":...,"events":[...]}, the events as queued.
func batchBody(now time.Time, events [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"time_ms":`)
	b.WriteString(strconv.FormatInt(now.UnixMilli(), 10))
	b.WriteString(`,"events":[`)
	for i, ev := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(ev)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// nextBackoff doubles d from 100 ms up to limit, with jitter, so that
// nodes retrying together spread out.
func nextBackoff(d, limit time.Duration) time.Duration {
	d = min(max(2*d, 100*time.Millisecond), limit)
	return d/2 + rand.N(d/2+1)
}

package broker

import (
	"sync"

	"go.uber.org/zap"
)

// fanoutScratch is the per-call memory of HandleMessage, pooled so that a
// delivery allocates nothing per subscriber. Its maps are emptied key by
// key, which costs what the call put in them, where clearing would cost
// the largest size they ever reached; a pool drops what it keeps at the
// next collections, so a huge fan-out's maps do not stay.
type fanoutScratch struct {
	entries []*entry
	picked  []*subscription
	seen    map[*Session]struct{} // the sessions of picked
	dups    map[*Session]int32    // when counted, of those, their other patterns that match
	counted bool                  // dups was filled
	over    []*Session            // those with more than MaxMatchingPatterns
	walked  walkLog               // the trie nodes the topic's match went through
	// walkedBy counts, during countWalked, the nodes of walked against
	// their owners; overOwners are the addresses counted over their
	// bound, overWalked and overAddress the sessions to close for it.
	walkedBy    map[*walkOwner]int32
	overOwners  []*walkOwner
	overWalked  []*Session
	overAddress []*Session
	routes      map[*Session]route // the sessions of routed
	routed      []*subscription
	batch       Batch
	rest        messageRest // router.rest
}

var scratchPool = sync.Pool{New: func() any {
	return &fanoutScratch{entries: make([]*entry, 0, 8), batch: Batch{flushers: make([]Flusher, 0, 4)}}
}}

// route is what a fan-out learnt from a connection's exact subscription
// for the connection's pattern: whether m is taken care of, or which
// exact subscription is being set up and left m to the pattern.
type route struct {
	served bool
	holder *subscription
}

// router carries one message to the exact topic's subscribers and to the
// pattern subscriptions picked for the topic, so that each connection
// gets it once. Its routes are valid during one HandleMessage; nil when
// no session can have both. They hold the sessions of the shorter of the
// two lists (all of the exact topic's when recordAll), so that a topic
// with many subscribers and a connection with a pattern matching it
// costs few map writes.
type router struct {
	b         *Broker
	m         *Message
	batch     *Batch
	routes    map[*Session]route
	recordAll bool
	sent      uint64
	rest      *messageRest // m's text past its pattern, for tagged deflate frames
}

// HandleMessage fans m out to the local subscribers of its topic. The
// engine calls it in seq order per topic, concurrently for different
// topics. m is encoded at most once per matching topic or pattern and
// framing (encoded), and the same frame is queued on every connection of
// that framing; a connection matching several
// of its subscriptions gets m once (docs/protocol.md section 6), through the
// exact topic before a pattern, at a cost that does not grow with how many
// of them match (candidates.go).
//
// The topic's shard stays read-locked until m is queued everywhere: it
// keeps an exact subscription's phase still through the fan-out (routeAfter)
// and an unsubscribe's reply after every message it did not stop. The
// pattern trie's read lock is held only while patterns take m: when none
// matches it is released before the topic's subscribers are offered m, so
// a pattern subscribe anywhere waits for no fan-out of a topic it does not
// reach, and fan-outs of every topic do not queue behind that subscribe.
func (b *Broker) HandleMessage(m *Message) {
	sc := scratchPool.Get().(*fanoutScratch)
	b.fanOut(m, sc)
	scratchPool.Put(sc)
}

// fanOut is HandleMessage in sc's memory, which it leaves reset.
func (b *Broker) fanOut(m *Message, sc *fanoutScratch) {
	sh := b.idx.rlock(m.Topic)
	exact := sh.topics[m.Topic]
	picked := b.idx.candidatesLocked(sh, m.Topic, sc)
	if len(picked) == 0 {
		b.idx.runlockPatterns() // nothing below reads the trie
	}
	r := router{b: b, m: m, batch: &sc.batch, rest: &sc.rest}
	if exact != nil {
		r.routes, r.recordAll = sc.routesFor(exact.subs, picked)
		r.exact(exact.subs)
	}
	r.patterns(picked)
	sc.reset() // under the lock: picked may be an entry's own subs
	if len(picked) != 0 {
		b.idx.runlockPatterns()
	}
	sh.mu.RUnlock()
	sc.batch.Flush()
	sc.closeFound()
	b.stats.messagesOut.Add(r.sent)
	b.deliveries.add(m.Topic, r.sent)
}

// routesFor returns the route map for a fan-out to the exact topic's subs
// and to the picked patterns, and whether the exact topic's subs are to
// record their every route in it: when they are fewer. Otherwise it holds
// the sessions of picked already. Nil when there is no pattern.
func (sc *fanoutScratch) routesFor(exact, picked []*subscription) (map[*Session]route, bool) {
	if len(picked) == 0 {
		return nil, false
	}
	if sc.routes == nil {
		sc.routes = make(map[*Session]route, min(len(exact), len(picked)))
	}
	if len(exact) <= len(picked) {
		sc.routed = exact
		return sc.routes, true
	}
	for _, sub := range picked {
		sc.routes[sub.session] = route{}
	}
	sc.routed = picked
	return sc.routes, false
}

// closeFound closes the connections the fan-out found over the bounds
// of their patterns, and forgets them. Called with no index lock held.
func (sc *fanoutScratch) closeFound() {
	closeOverlapping(sc.over, closedOverlapping, overlappingReason)
	closeOverlapping(sc.overWalked, closedWalked, walkedReason)
	closeOverlapping(sc.overAddress, closedWalked, addressWalkedReason)
	clear(sc.over)
	sc.over = sc.over[:0]
	clear(sc.overWalked)
	sc.overWalked = sc.overWalked[:0]
	clear(sc.overAddress)
	sc.overAddress = sc.overAddress[:0]
}

// reset empties sc for its next fan-out.
func (sc *fanoutScratch) reset() {
	for _, sub := range sc.routed {
		delete(sc.routes, sub.session)
	}
	sc.routed = nil
	for _, sub := range sc.picked {
		delete(sc.seen, sub.session)
		if sc.counted {
			delete(sc.dups, sub.session)
		}
	}
	sc.counted = false
	clear(sc.picked)
	sc.picked = sc.picked[:0]
	clear(sc.entries)
	sc.entries = sc.entries[:0]
	sc.rest = messageRest{deflated: sc.rest.deflated} // lets go of m's text
}

// HandleGap tells the local subscribers of g's topic that g's messages will
// never come, in their place: the gap goes through fan-out as a marker
// message, so it is held, ordered and sent once per connection as a
// message would be. An exact subscription that already has some of the
// range is told only of the rest.
func (b *Broker) HandleGap(g Gap) {
	if g.From == 0 || g.To < g.From {
		return
	}
	b.stats.gaps.Add(1)
	b.stats.gapMessages.Add(g.To - g.From + 1)
	b.log.Warn("messages lost: a gap is sent in their place",
		zap.String("topic", g.Topic), zap.String("epoch", g.Epoch),
		zap.Uint64("from", g.From), zap.Uint64("to", g.To))
	b.HandleMessage(&Message{Topic: g.Topic, Epoch: g.Epoch, Seq: g.To, gapFrom: g.From})
}

// exact offers m to the subscribers of its topic and notes, for the
// sessions that may also have a picked pattern, what became of it.
func (r *router) exact(subs []*subscription) {
	enc := r.b.newEncoded(r.m, "")
	for _, sub := range subs {
		out := sub.offer(&enc, r.batch)
		if out == sent {
			r.sent++
		}
		if r.routes == nil {
			continue
		}
		if _, both := r.routes[sub.session]; both || r.recordAll {
			r.routes[sub.session] = routeAfter(sub, out)
		}
	}
}

// routeAfter is what a connection's pattern must know once its exact
// subscription had outcome for m. A subscription that took or had m
// settles it; one being set up leaves m to the pattern and is told, and a
// plain one leaves it what came before its start. Under the topic's index
// read lock an exact subscription's phase holds still (goLive takes the
// write lock), so this stays true for the call.
func routeAfter(sub *subscription, out outcome) route {
	switch out {
	case held:
		return route{holder: sub}
	case beforeStart:
		return route{}
	}
	return route{served: true}
}

// patterns offers m to the picked pattern subscriptions whose connection
// the exact topic did not serve. Picks of one pattern come together and
// share its encoding, built only when one of them is offered m.
func (r *router) patterns(picked []*subscription) {
	var enc encoded
	var from *entry
	// Compressing a tagged text in parts (deflate_parts.go) pays only
	// where a second tag shares the rest: through one pattern the text
	// is compressed whole, as an exact topic's, for in parts a message
	// of 1 KiB to 100 deflate subscribers through one pattern cost about
	// 24 µs and 10 allocations where whole it costs 17 µs and 2
	// (BenchmarkDeliveryDeflateThroughPatterns). Picks of one pattern
	// come together, so the first and the last differ exactly when
	// there are two patterns or more.
	var rest *messageRest
	if len(picked) > 1 && picked[0].entry != picked[len(picked)-1].entry {
		rest = r.rest
	}
	for _, sub := range picked {
		var rt route
		if r.routes != nil {
			if rt = r.routes[sub.session]; rt.served {
				continue
			}
		}
		if sub.entry != from {
			enc, from = r.b.newEncoded(r.m, sub.pattern), sub.entry
			enc.rest = rest
		}
		if sub.offer(&enc, r.batch) == sent {
			r.sent++
			if rt.holder != nil {
				rt.holder.sawElsewhere(r.m)
			}
		}
	}
}

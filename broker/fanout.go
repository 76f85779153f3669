package broker

import (
	"sync"

	"go.uber.org/zap"
)

// fanoutScratch is the per-call memory of HandleMessage, pooled so that a
// delivery allocates nothing per subscriber.
type fanoutScratch struct {
	entries  []*entry
	flushers flushers
	routes   map[*Session]route
}

// maxPooledRoutes bounds the route map kept in the pool: clearing a map
// costs its capacity, so one huge fan-out must not tax every later one.
const maxPooledRoutes = 256

var scratchPool = sync.Pool{New: func() any {
	return &fanoutScratch{entries: make([]*entry, 0, 8), flushers: make(flushers, 0, 4)}
}}

// route is what one fan-out knows of a session it already reached:
// whether m is taken care of, or which exact subscription of the session
// is being set up and left m to a pattern.
type route struct {
	served bool
	holder *subscription
}

// router carries one message through the entries that match its topic,
// so that each connection gets it once whatever number of its
// subscriptions match. Its routes are valid during one HandleMessage.
type router struct {
	m      *Message
	fl     *flushers
	routes map[*Session]route // nil when only one entry matched
	sent   uint64
}

// HandleMessage fans m out to the local subscribers of its topic. The
// engine calls it in seq order per topic, concurrently for different
// topics. m is encoded at most once per matching topic or pattern, and the
// same frame is queued on every connection; a connection matching several
// of its subscriptions gets m once (PROTOCOL.md section 6), through the
// exact topic before a pattern, at a cost that does not grow with how many
// of them match.
func (b *Broker) HandleMessage(m *Message) {
	sc := scratchPool.Get().(*fanoutScratch)
	sh := b.idx.rlock(m.Topic)
	entries := b.idx.matchLocked(sh, m.Topic, sc.entries[:0])
	r := router{m: m, fl: &sc.flushers}
	if len(entries) > 1 {
		r.routes = sc.routesFor(entries)
	}
	for i, e := range entries {
		r.deliver(e, i < len(entries)-1)
	}
	b.idx.runlock(sh)
	sc.flushers.flush()
	clear(entries)
	sc.entries = entries[:0]
	sc.release()
	scratchPool.Put(sc)
	b.stats.messagesOut.Add(r.sent)
}

// routesFor returns an empty route map for a fan-out over entries.
func (sc *fanoutScratch) routesFor(entries []*entry) map[*Session]route {
	if sc.routes == nil {
		n := 0
		for _, e := range entries {
			n += len(e.subs)
		}
		sc.routes = make(map[*Session]route, min(n, maxPooledRoutes))
	}
	return sc.routes
}

func (sc *fanoutScratch) release() {
	if len(sc.routes) > maxPooledRoutes {
		sc.routes = nil
		return
	}
	clear(sc.routes)
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

// deliver offers m to the subscribers of e that no earlier entry served.
// record says whether later entries follow and need to know who was served.
// The frame is encoded only once a subscriber takes it, so entries whose
// connections were all served cost no encoding.
func (r *router) deliver(e *entry, record bool) {
	var frame []byte
	for _, sub := range e.subs {
		var seen route
		if r.routes != nil {
			if seen = r.routes[sub.session]; seen.served {
				continue
			}
		}
		if frame == nil {
			frame = messageFrame(r.m, sub.tag())
		}
		out := sub.offer(r.m, frame, r.fl)
		if out == sent {
			r.sent++
			if seen.holder != nil {
				seen.holder.sawElsewhere(r.m)
			}
		}
		if record {
			r.routes[sub.session] = routeAfter(sub, out)
		}
	}
}

// routeAfter is what later entries must know of sub's session once sub
// had outcome for m. A pattern always settles it, as does an exact
// subscription that took or had m; one being set up leaves m to a pattern
// and is told, and a plain one leaves it what came before its start.
// Under the topic's index read lock an exact subscription's phase holds
// still (goLive takes the write lock), so this stays true for the call.
func routeAfter(sub *subscription, out outcome) route {
	switch {
	case !sub.exact:
		return route{served: true}
	case out == held:
		return route{holder: sub}
	case out == beforeStart:
		return route{}
	}
	return route{served: true}
}

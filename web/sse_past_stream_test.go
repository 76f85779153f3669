package web

import (
	"strings"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestClientHoldsWhatAStreamCannotCarryForWebSocket: a client that fell
// back to SSE by itself tries WebSocket again later. A subscription a
// stream cannot carry though a WebSocket would (refused
// too_many_subscriptions: with the stream's other topics it counts more
// of the address's command budget at once than the burst; or past the
// 32 topics a stream carries) is not failed for good: its onError hears
// it once, and it stays subscribing, left out of the streams, until the
// client is on WebSocket again, where it goes live.
func TestClientHoldsWhatAStreamCannotCarryForWebSocket(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		burst  int // the address's command burst, 0 for the default
		topics int
		held   string // the topics held, as their handles' onError heard
	}{
		{"past the burst", 3, 4, "too_many_subscriptions t.3"},
		{"past 32 topics", 0, 34, "too_many_subscriptions t.32,too_many_subscriptions t.33"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startBurstNode(t, "burst-node", tc.burst)
			proxy, front := newSwitchingProxy(t, n.Base)
			p := newPage(t, front+"/herald.js", `true`)
			p.run(`import('/herald.js').then((herald) => {
				window.got = []; window.told = [];
				window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 200 });
				window.subs = Array.from({ length: ` + itoa(tc.topics) + ` }, (_, i) => h.subscribe('t.' + i,
					(m) => got.push(m.topic), { onError: (e) => told.push(e.code + ' ' + e.topic) }));
				h.connect();
				return 0;
			})`)
			last := itoa(tc.topics - 1)
			p.wait(`h.transport === 'sse' && subs[0].state === 'live' && told.length > 0`)
			if got := p.value(`subs[` + last + `].state + ' ' + told.join()`); got != "subscribing "+tc.held {
				t.Fatalf("on SSE, the last subscription's state and what was told: %q, want subscribing %s", got, tc.held)
			}
			proxy.blocked.Store(false)
			p.wait(`h.transport === 'websocket' && subs.every((s) => s.state === 'live')`)
			publishHTTP(t, n.Base, `{"topic":"t.`+last+`","data":1}`)
			p.wait(`got.join() === 't.` + last + `'`)
			if got := p.value(`told.join()`); got != tc.held {
				t.Errorf("told %q, want only %q", got, tc.held)
			}
			p.checkNoProblems()
		})
	}
}

// TestClientAsksForWhatWasPastTheStreamOnceItHasRoom: with WebSocket
// blocked for good, a subscription held past the 32 topics a stream
// carries would wait for ever for a WebSocket: once the page drops others
// the stream has room for it, and the next stream asks for it, its handle
// told nothing more.
func TestClientAsksForWhatWasPastTheStreamOnceItHasRoom(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "room-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	_, front := newSwitchingProxy(t, n.Base)
	p := openCountingStreams(t, front, 34)
	p.wait(`h.transport === 'sse' && subs[0].state === 'live' && told.length === 2`)
	p.run(`subs[0].unsubscribe(); subs[1].unsubscribe(); window.reopens = carried.length; 0`)
	p.wait(`carried.length > reopens && subs[2].state === 'live'`)
	if got := p.value(`carried[carried.length - 1] + ' ' + subs[32].state + ' ' + subs[33].state`); got != "32 live live" {
		t.Fatalf("the stream after two were dropped: %q, want 32 topics, t.32 and t.33 live", got)
	}
	publishHTTP(t, n.Base, `{"topic":"t.33","data":1}`)
	p.wait(`got.join() === 't.33'`)
	if got := p.value(`h.transport + ' ' + told.join()`); got != "sse too_many_subscriptions t.32,too_many_subscriptions t.33" {
		t.Errorf("transport and what was told: %q, want sse and t.32, t.33 once each", got)
	}
	p.checkNoProblems()
}

// TestClientAsksForWhatWasPastTheBurstOnceTheStreamHasRoom: with
// WebSocket blocked for good, a subscription a stream was refused for
// past its address's burst (too_many_subscriptions naming it) would wait
// for ever for a WebSocket: once the page drops others, a stream naming
// fewer topics than the one refused asks for it again, its handle told
// nothing more. One it cannot carry yet (t.4: it was refused in a
// stream of four) waits on, asked for no more than that.
func TestClientAsksForWhatWasPastTheBurstOnceTheStreamHasRoom(t *testing.T) {
	t.Parallel()
	n := startBurstNode(t, "burst-room-node", 3)
	_, front := newSwitchingProxy(t, n.Base)
	p := openCountingStreams(t, front, 5)
	const held = "too_many_subscriptions t.3,too_many_subscriptions t.4"
	p.wait(`h.transport === 'sse' && subs[0].state === 'live' && told.length === 2`)
	if got := p.value(`carried.join() + ' ' + told.join()`); got != "3 "+held {
		t.Fatalf("streams opened and what was told: %q, want one of 3 topics, and %s", got, held)
	}
	p.run(`subs[0].unsubscribe(); window.reopens = carried.length; 0`)
	p.wait(`carried.length > reopens && subs[1].state === 'live'`)
	if got := p.value(`carried.at(-1) + ' ' + subs[3].state + ' ' + subs[4].state`); got != "3 live subscribing" {
		t.Fatalf("the stream after one was dropped: %q, want 3 topics, t.3 live and t.4 still held", got)
	}
	publishHTTP(t, n.Base, `{"topic":"t.3","data":1}`)
	p.wait(`got.join() === 't.3'`)
	if got := p.value(`h.transport + ' ' + carried.join() + ' ' + told.join()`); got != "sse 3,3 "+held {
		t.Errorf("transport, streams opened and what was told: %q, want sse, 3,3 and t.3, t.4 once each", got)
	}
	p.checkNoProblems()
}

// TestClientAsksForWhatWasPastTheBurstWithoutALoop: topics cost an
// address's budget unequally (one that keeps presence counts 3), so a
// stream naming fewer topics than one refused may still not fit. Here,
// burst 3: room.a is refused in the second place of a stream, t.4 in the
// fourth of another; once the page drops t.0, the next stream asks for
// t.4 beside t.2 and t.3, and opens, room.a still held. Each refusal had
// been remembered as the number of topics its stream named, and each try
// checked against the topics before it only: room.a and t.4 were both
// asked for again, a stream of three was refused for t.2, held with 3
// while t.4 (held with 4) still came after it, and the next stream was
// the same one, refused for ever, one stream and one look at why after
// another.
func TestClientAsksForWhatWasPastTheBurstWithoutALoop(t *testing.T) {
	t.Parallel()
	n := startBurstNode(t, "burst-loop-node", 3, "room.*")
	proxy, front := newBlockingProxy(t, n.Base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.told = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 60000 });
		window.subs = {};
		window.sub = (topic) => { subs[topic] = h.subscribe(topic, () => {}, { onError: (e) => told.push(e.topic)}); };
		['t.0', 'room.a', 't.2', 't.3'].forEach(sub);
		h.connect();
		return 0;
	})`)
	p.wait(`h.transport === 'sse' && subs['t.3'].state === 'live' && told.length === 1`)
	p.run(`sub('t.4'), 0`)
	p.wait(`told.length === 2 && subs['t.3'].state === 'live'`)
	if got := p.value(`told.join() + ' ' + subs['room.a'].state + ' ' + subs['t.4'].state`); got != "room.a,t.4 subscribing subscribing" {
		t.Fatalf("told and held: %q, want room.a and t.4 told and held", got)
	}
	before := len(proxy.streamQueries())
	p.run(`subs['t.0'].unsubscribe(), 0`)
	p.wait(`subs['t.4'].state === 'live'`)
	if got := p.value(`told.join() + ' ' + ['t.2', 't.3', 'room.a'].map((t) => subs[t].state).join()`); got != "room.a,t.4 live,live,subscribing" {
		t.Errorf("told, and t.2, t.3 and room.a: %q, want room.a and t.4 told once, t.2 and t.3 live, room.a held", got)
	}
	// Each stream asked for after the drop (again, and looked at, when
	// the address's budget had not filled yet: 429) is that one.
	for _, query := range proxy.streamQueries()[before:] {
		if !strings.HasPrefix(query, "topic=t.2&topic=t.3&topic=t.4&") {
			t.Errorf("a stream asked for after the drop: %q, want t.2, t.3 and t.4 alone", query)
		}
	}
	p.checkNoProblems()
}

// TestClientAsksForNothingRefusedPastTheBurstUntilThePageDropsATopic:
// burst 3, six topics over SSE. Each stream refused past the burst holds
// the topic it names, and the next one asks for the others alone: none of
// those held comes back while the page drops nothing. A hold remembered
// as the number of topics its stream named had the client ask for t.3
// again as soon as t.4 was held, the stream one topic shorter than the
// one that refused t.3: refused again, and so on for each, six streams
// refused where three are (the whole row grows with the square of the
// topics held: 436 streams where 30 are for 32 topics and a burst of 3).
func TestClientAsksForNothingRefusedPastTheBurstUntilThePageDropsATopic(t *testing.T) {
	t.Parallel()
	n := startBurstNode(t, "burst-once-node", 3)
	proxy, front := newBlockingProxy(t, n.Base)
	p := openTellingTopics(t, front, 6)
	p.wait(`h.transport === 'sse' && subs[2].state === 'live'`)
	if got := p.value(`told.join() + ' ' + subs.map((s) => s.state).join()`); got != "t.3,t.4,t.5 live,live,live,subscribing,subscribing,subscribing" {
		t.Fatalf("told and states: %q, want t.3, t.4 and t.5 told and held", got)
	}
	// Each stream (looked at again over plain HTTP once refused) names
	// no topic the one before it left out.
	var before map[string]bool
	for _, query := range proxy.streamQueries() {
		topics := map[string]bool{}
		for _, kv := range strings.Split(query, "&") {
			if topic, ok := strings.CutPrefix(kv, "topic="); ok {
				topics[topic] = true
			}
		}
		for topic := range topics {
			if before != nil && !before[topic] {
				t.Errorf("%s asked for again in %q, though the page dropped nothing (streams %q)", topic, query, proxy.streamQueries())
			}
		}
		before = topics
	}
	p.checkNoProblems()
}

// TestClientTellsAHeldSubscriptionOnce: burst 31, 33 topics over SSE.
// t.32, past the 32 a stream carries, is told too_many_subscriptions and
// held; t.31, the 32nd, is refused past the burst, and the next stream
// asks for t.32 in its place, refused past the burst too. Its handle,
// told already and not live since, hears nothing more: it heard it
// twice, the stream that asked for it with room having cleared what said
// it was told.
func TestClientTellsAHeldSubscriptionOnce(t *testing.T) {
	t.Parallel()
	n := startBurstNode(t, "told-once-node", 31)
	_, front := newBlockingProxy(t, n.Base)
	p := openTellingTopics(t, front, 33)
	p.wait(`h.transport === 'sse' && subs[30].state === 'live'`)
	if got := p.value(`told.sort().join() + ' ' + subs.slice(30).map((s) => s.state).join()`); got != "t.31,t.32 live,subscribing,subscribing" {
		t.Errorf("told and states of t.30 to t.32: %q, want t.31 and t.32 told once each, and held", got)
	}
	p.checkNoProblems()
}

// startBurstNode starts a node that serves herald.js and lets an address
// send burst commands at once (0: the default) and little else bounds;
// presenceTopics keep presence.
func startBurstNode(t *testing.T, nodeID string, burst int, presenceTopics ...string) *nodetest.Node {
	t.Helper()
	conns, err := limits.NewConnLimiter(limits.ConnConfig{Rate: 1000, Burst: 1000, CommandRate: 1000, CommandBurst: burst})
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: nodeID,
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: presenceTopics},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler(), Conns: conns},
	}})
}

// openCountingStreams opens a page that subscribes to t.0 ... t.<topics-1>
// and connects: got has the topics of the messages it hears, told the
// code and topic of each error, and carried the number of topics of each
// stream it connects on.
func openCountingStreams(t *testing.T, front string, topics int) *page {
	t.Helper()
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.told = []; window.carried = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 60000 });
		h.on('state', (state, info) => { if (state === 'connected' && info.topics) carried.push(info.topics.length); });
		window.subs = Array.from({ length: ` + itoa(topics) + ` }, (_, i) => h.subscribe('t.' + i,
			(m) => got.push(m.topic), { onError: (e) => told.push(e.code + ' ' + e.topic) }));
		h.connect();
		return 0;
	})`)
	return p
}

// openTellingTopics opens a page that subscribes to t.0 ...
// t.<topics-1> and connects: told has the topic of each error heard.
func openTellingTopics(t *testing.T, front string, topics int) *page {
	t.Helper()
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.told = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 60000 });
		window.subs = Array.from({ length: ` + itoa(topics) + ` }, (_, i) => h.subscribe('t.' + i, () => {}, { onError: (e) => told.push(e.topic) }));
		h.connect();
		return 0;
	})`)
	return p
}

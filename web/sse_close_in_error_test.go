package web

import "testing"

// TestClientClosedInAPastTheStreamOnErrorOpensNoStream: the onError of a
// subscription past the 32 topics a stream carries is called while the
// stream is being opened; a page that closes the client there has no
// stream opened after close(), which nothing would ever close.
func TestClientClosedInAPastTheStreamOnErrorOpensNoStream(t *testing.T) {
	t.Parallel()
	p := newPage(t, startNode(t)+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.sources = [];
		const Native = window.EventSource;
		window.EventSource = class extends Native {
			constructor(url) { super(url); sources.push(this); }
		};
		window.told = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		window.subs = Array.from({ length: 33 }, (_, i) => h.subscribe('t.' + i, () => {},
			{ onError: (e) => { told.push(e.code); h.close(); } }));
		h.connect();
		return 0;
	})`)
	p.wait(`told.length > 0`)
	if got := p.value(`told.join() + ' ' + h.state + ' ' + sources.filter((s) => s.readyState !== EventSource.CLOSED).length`); got != "too_many_subscriptions disconnected 0" {
		t.Errorf("told, state and streams open: %q, want too_many_subscriptions disconnected 0", got)
	}
}

// TestClientClosedInAStreamRefusalsOnErrorStaysClosed: a stream refused
// for one topic tells that subscription's onError, then opens the stream
// without it; a page that closes the client there has it stay
// disconnected, not 'connecting' for good with nothing under way.
func TestClientClosedInAStreamRefusalsOnErrorStaysClosed(t *testing.T) {
	t.Parallel()
	p := newPage(t, startNode(t)+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.told = []; window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		h.subscribe('news', () => {});
		h.subscribe('a..b', () => {}, { onError: (e) => { told.push(e.code); h.close(); } });
		h.connect();
		h.on('state', (s) => states.push(s));
		return 0;
	})`)
	p.wait(`told.length > 0`)
	if got := p.value(`told.join() + ' ' + h.state + ' ' + states.at(-1)`); got != "invalid_topic disconnected disconnected" {
		t.Errorf("told, state and the last state event: %q, want invalid_topic disconnected disconnected", got)
	}
}

// TestClientClosedInAStreamsConnectedStateTakesNoneLive: a stream's first
// event opens it ('connected'), then answers each of its topics; a page
// that closes the client in the 'state' listener there has its
// subscriptions left subscribing, not live on a closed client (their
// ready resolved, their recovery told).
func TestClientClosedInAStreamsConnectedStateTakesNoneLive(t *testing.T) {
	t.Parallel()
	p := newPage(t, startNode(t)+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		window.news = h.subscribe('news', () => {});
		window.settled = false;
		news.ready.then(() => { settled = true; }, () => { settled = true; });
		h.on('state', (s) => { if (s === 'connected') h.close(); });
		h.connect();
		return 0;
	})`)
	p.wait(`h._closed && h.state === 'disconnected'`)
	if got := p.value(`news.state + ' ' + settled`); got != "subscribing false" {
		t.Errorf("the subscription's state and whether its ready settled: %q, want subscribing false", got)
	}
}

// TestClientClosedInAStreamTopicsOnErrorTakesTheNextNoneLive: the topics
// of a stream's first event are answered one after another; a page that
// closes the client in one's onError (receive_only: a presence handler
// over SSE) has the topics after it left subscribing.
func TestClientClosedInAStreamTopicsOnErrorTakesTheNextNoneLive(t *testing.T) {
	t.Parallel()
	p := newPage(t, startNode(t)+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.told = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 20, maxDelay: 100 });
		window.room = h.subscribe('room', () => {}, { onPresence: () => {}, onError: (e) => { told.push(e.code); h.close(); } });
		window.news = h.subscribe('news', () => {});
		h.connect();
		return 0;
	})`)
	p.wait(`told.length > 0`)
	if got := p.value(`told.join() + ' ' + h.state + ' ' + news.state`); got != "receive_only disconnected subscribing" {
		t.Errorf("errors, state and the next topic's subscription state: %q, want receive_only disconnected subscribing", got)
	}
}

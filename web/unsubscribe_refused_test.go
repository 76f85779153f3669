package web

import (
	"testing"
	"time"
)

// startPacedNode runs a real in-memory node as startNode does, whose
// connections may send 2 commands a second, in bursts of 4: a page that
// spends its burst has its next commands refused rate_limited.
func startPacedNode(t *testing.T) string {
	t.Helper()
	return startNodeAtRate(t, 2)
}

// recordFrames (JS) keeps every command h sends in window.sent and every
// frame it receives in window.frames, and defines spendBurst(), which
// publishes until the node refuses one rate_limited: the node's rate
// (2 a second) refuses the next command sent at once, and its reader
// (twice the rate, twice the burst) reads it at once.
const recordFrames = `
	window.sent = []; window.frames = [];
	const send = h._send.bind(h);
	h._send = (cmd) => { sent.push(cmd); send(cmd); };
	window.receive = h._receive.bind(h);
	h._receive = (text) => { frames.push(JSON.parse(text)); receive(text); };
	window.spendBurst = async () => {
		for (let i = 0; ; i++) {
			try { await h.publish('spent', i); } catch (e) { if (e.code === 'rate_limited') return; throw e; }
		}
	};`

// refusedUnsubscribes (JS) counts the unsubscribes the node refused
// rate_limited.
const refusedUnsubscribes = `frames.filter((f) => f.type === 'error' && f.code === 'rate_limited'
	&& sent.some((c) => c.id === f.id && c.type === 'unsubscribe')).length`

// An unsubscribe the node refuses for now (rate_limited) leaves the
// subscription on the node: the client asks again until it is gone, so
// the node stops sending the topic, and the app hears nothing of it
// from the unsubscribe on, also of what comes meanwhile.
func TestClientRetriesARefusedUnsubscribe(t *testing.T) {
	t.Parallel()
	base := startPacedNode(t)
	p := newPage(t, base+"/", `document.readyState === 'complete'`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.marks = []; window.errors = [];
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 200, pingInterval: 0 });
		` + recordFrames + `
		h.on('error', (e) => errors.push(e.code));
		window.sub = h.subscribe('news', (m) => got.push(m.data));
		const mark = h.subscribe('mark', (m) => marks.push(m.data));
		h.connect();
		return Promise.all([sub.ready, mark.ready]);
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)

	p.run(`window.left = false; spendBurst().then(() => sub.unsubscribe()).then(() => { left = true; })`)
	p.wait(refusedUnsubscribes + ` > 0`)
	// The node still holds the subscription and sends this; the app
	// unsubscribed and must not get it.
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`left`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	publishHTTP(t, base, `{"topic":"mark","data":1}`)
	p.wait(`marks.join() === '1'`)

	if got := p.value(`frames.filter((f) => f.type === 'message' && f.topic === 'news' && f.data === 3).length`); got != "0" {
		t.Errorf("the node sent news 3, published after unsubscribe() resolved, %s times: it still holds the subscription", got)
	}
	if got := p.value(`frames.filter((f) => f.type === 'unsubscribed' && f.topic === 'news' && !f.reason).length`); got != "1" {
		t.Errorf("the node accepted %s unsubscribes of news, want 1", got)
	}
	if got := p.value(`got.join()`); got != "1" {
		t.Errorf("the app got news %s, want only 1, before its unsubscribe", got)
	}
	if got := p.value(`sub.state + ' ' + errors.join()`); got != "unsubscribed " {
		t.Errorf("state and errors: %q, want unsubscribed and none (a refusal for now is retried without a word)", got)
	}
	p.checkNoProblems()
}

// A backlog is loaded by an unsubscribe and a resume sent together; an
// unsubscribe refused for now leaves the subscription on the node, whose
// resume then sends nothing of history. The client sends the two again
// until the unsubscribe is taken, and the backlog arrives whole.
func TestClientLoadsABacklogAfterItsUnsubscribeIsRefused(t *testing.T) {
	t.Parallel()
	base := startPacedNode(t)
	for i := 1; i <= 7; i++ {
		publishHTTP(t, base, `{"topic":"news","data":`+itoa(i)+`}`)
	}
	p := newPage(t, base+"/", `document.readyState === 'complete'`)
	// The subscribe's answer, which starts the load, is taken once the
	// burst is spent.
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.errors = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 200, pingInterval: 0 });
		` + recordFrames + `
		h.on('error', (e) => errors.push(e.code));
		window.sub = h.subscribe('news', (m) => got.push(m.data), { backlog: 3, onRecoveryFailed: (i) => lost.push(i) });
		h._receive = (text) => {
			frames.push(JSON.parse(text));
			if (!text.includes('"subscribed"') || window.held) return receive(text);
			window.held = true;
			spendBurst().then(() => receive(text));
		};
		h.connect();
		return sub.ready;
	})`)
	if got := p.value(refusedUnsubscribes); got == "0" {
		t.Fatalf("the node refused none of the load's unsubscribes: sent %s, received %s", p.value(`JSON.stringify(sent)`), p.value(`JSON.stringify(frames)`))
	}
	publishHTTP(t, base, `{"topic":"news","data":8}`)
	p.wait(`got.includes(8)`)
	if got := p.value(`got.join() + ' ' + errors.join() + ' ' + lost.length`); got != "5,6,7,8  0" {
		t.Errorf("got, errors and recovery reports: %q, want the backlog 5,6,7 then 8, no error, no report", got)
	}
	p.checkNoProblems()
}

// A refused unsubscribe is not asked again once the page subscribes to
// the topic again (the node's subscription is the new one's), nor on a
// new connection, which has no such subscription.
func TestClientDropsARefusedUnsubscribeItNoLongerNeeds(t *testing.T) {
	t.Parallel()
	base := startPacedNode(t)
	p := newPage(t, base+"/", `document.readyState === 'complete'`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.marks = [];
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 200, pingInterval: 0 });
		` + recordFrames + `
		const sub = h.subscribe('news', (m) => got.push(m.data));
		window.mark = h.subscribe('mark', (m) => marks.push(m.data));
		h.connect();
		return Promise.all([sub.ready, mark.ready])
			.then(() => spendBurst())
			.then(() => { void sub.unsubscribe(); window.again = h.subscribe('news', (m) => got.push(m.data)); });
	})`)
	p.wait(refusedUnsubscribes + ` > 0 && again.state === 'live'`)
	// Past the delays of the retries the node's rate would have let through.
	p.pause(1500 * time.Millisecond)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	publishHTTP(t, base, `{"topic":"mark","data":1}`)
	p.wait(`marks.join() === '1'`)
	if got := p.value(`got.join() + ' ' + sent.filter((c) => c.type === 'unsubscribe').length`); got != "1 1" {
		t.Errorf("news got and unsubscribes sent: %q, want news 1 and the one unsubscribe", got)
	}

	// The connection drops as the refusal comes, before the retry.
	p.run(`window.sentBefore = Infinity;
	h.on('state', (s) => { if (s === 'connected') sentBefore = Math.min(sentBefore, sent.length); });
	const recorded = h._receive;
	h._receive = (text) => {
		recorded(text);
		const f = JSON.parse(text);
		if (f.type !== 'error' || !sent.some((c) => c.id === f.id && c.type === 'unsubscribe' && c.topic === 'mark')) return;
		h._receive = recorded;
		h._ws.close();
	};
	spendBurst().then(() => void mark.unsubscribe())`)
	p.wait(`sentBefore < Infinity`)
	p.pause(1500 * time.Millisecond)
	if got := p.value(refusedUnsubscribes); got != "2" {
		t.Fatalf("the node refused %s unsubscribes, want 2: news's and mark's", got)
	}
	if got := p.value(`JSON.stringify(sent.slice(sentBefore).filter((c) => c.type === 'unsubscribe'))`); got != "[]" {
		t.Errorf("after the drop the client sent %s, want no unsubscribe", got)
	}
	p.checkNoProblems()
}

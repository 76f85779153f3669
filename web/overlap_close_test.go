package web

import "testing"

// A node closes a connection with 1008 when more than 16 of its patterns
// match the topic of a message (docs/protocol.md section 6). herald.js
// tells the page, fails the newest of those patterns, and comes back with
// the rest, over WebSocket and over SSE alike, rather than resubscribing
// the same patterns to be closed again at every message of the topic.
func TestClientDropsThePatternsPastTheLimitOnClose1008(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", "true")
	p.run(`import('/herald.js').then((herald) => {
		const tokens = 'o.a.b.c.d'.split('.');
		// 17 patterns that each match o.a.b.c.d: some tokens made '*'.
		window.patterns = [];
		for (let mask = 1; patterns.length < 17; mask++) patterns.push(tokens.map((t, i) => mask & (1 << i) ? '*' : t).join('.'));
		window.runs = {};
		for (const transport of ['websocket', 'sse']) {
			const r = runs[transport] = { errors: [], failed: [], got: 0, drops: 0 };
			r.h = new herald.Herald('/ws', { transport, minDelay: 50, maxDelay: 200, pingInterval: 0 });
			r.h.on('error', (e) => r.errors.push(e.code + ' ' + e.topic));
			r.h.on('state', (s) => { if (s === 'disconnected') r.drops++; });
			r.subs = patterns.map((pattern) => r.h.subscribe(pattern, () => r.got++,
				{ onError: (e) => r.failed.push(pattern + ' ' + e.code) }));
			r.h.connect();
		}
		return Promise.all(Object.values(runs).flatMap((r) => r.subs.map((s) => s.ready)));
	})`)

	publishHTTP(t, base, `{"topic":"o.a.b.c.d","data":1}`)
	for _, transport := range []string{"websocket", "sse"} {
		r := `runs.` + transport
		p.wait(r + `.errors.join() === 'too_many_patterns o.a.b.c.d'`)
		p.wait(r + `.failed.join() === patterns[16] + ' too_many_patterns'`)
		p.wait(r + `.h.state === 'connected' && ` + r + `.subs.slice(0, 16).every((s) => s.state === 'live')`)
		if got := p.value(r + `.got`); got != "17" {
			t.Errorf("%s: the message that matched 17 patterns reached %s of them, want 17", transport, got)
		}
	}
	publishHTTP(t, base, `{"topic":"o.a.b.c.d","data":2}`)
	publishHTTP(t, base, `{"topic":"o.a.b.c.d","data":3}`)
	for _, transport := range []string{"websocket", "sse"} {
		r := `runs.` + transport
		p.wait(r + `.got === 17 + 16 + 16`)
		if drops := p.value(r + `.drops`); drops != "1" {
			t.Errorf("%s: the client dropped %s times, want once", transport, drops)
		}
		if errs := p.value(r + `.errors.length`); errs != "1" {
			t.Errorf("%s: %s errors, want one", transport, errs)
		}
	}
	p.run(`Object.values(runs).forEach((r) => r.h.close())`)
	p.checkNoProblems()
}

package web

import (
	"testing"
)

// A subscription with backlog: N shows the topic's last N messages from a
// real node's history, then the live ones, none missing and none twice.
func TestClientBacklogFromARealNode(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	for i := 1; i <= 7; i++ {
		publishHTTP(t, base, `{"topic":"news","data":`+itoa(i)+`}`)
	}
	p := newPage(t, base+"/", `document.readyState === 'complete'`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 500, maxDelay: 1000 });
		window.sub = h.subscribe('news', (m) => got.push(m.data), { backlog: 3, onRecoveryFailed: (i) => lost.push(i) });
		window.none = h.subscribe('quiet', (m) => got.push('quiet ' + m.data), { backlog: 5 });
		window.states = [sub.state];
		h.connect();
		return Promise.all([sub.ready, none.ready]).then(() => states.push(sub.state));
	})`)
	publishHTTP(t, base, `{"topic":"news","data":8}`)
	publishHTTP(t, base, `{"topic":"quiet","data":1}`)
	p.wait(`got.join() === '5,6,7,8,quiet 1'`)
	if got := p.value(`states.join() + ' ' + JSON.stringify(sub.position) + ' ' + lost.length`); got != `subscribing,live {"epoch":"`+p.value(`sub.position.epoch`)+`","seq":8} 0` {
		t.Errorf("state, position and recovery reports: %s", got)
	}

	// After a drop it resumes where it was, not from the backlog again.
	p.run(`window.drops = 0; h.on('state', (s) => { if (s === 'disconnected') drops++; }); h._ws.close()`)
	p.wait(`drops === 1`)
	publishHTTP(t, base, `{"topic":"news","data":9}`)
	p.wait(`h.state === 'connected' && got.join() === '5,6,7,8,quiet 1,9'`)
	p.checkNoProblems()
}

// setToken sends a refresh on a live connection, and a stopped or dropped
// client uses the new token on its next connect.
func TestClientSetTokenRefreshes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", `{ token: 'old' }`)
	c := f.accept(ctx)
	c.welcome()
	p.wait(`h.state === 'connected'`)
	p.run(`void h.setToken('new').then(() => window.refreshed = true, (e) => window.refused = e.code)`)
	cmd := c.expect(ctx, "refresh")
	if cmd["token"] != "new" {
		t.Fatalf("refresh %v, want token new", cmd)
	}
	c.send(map[string]any{"type": "refreshed", "id": cmd["id"]})
	p.wait(`window.refreshed === true`)

	p.run(`void h.setToken('bad').catch((e) => window.refused = e.code)`)
	cmd = c.expect(ctx, "refresh")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "unauthorized", "message": "bad signature"})
	p.wait(`window.refused === 'unauthorized'`)

	p.run(`void h.setToken('next').catch(() => {})`)
	c.expect(ctx, "refresh") // unanswered: the connection drops first
	c.drop()
	if c2 := f.accept(ctx); c2.token() != "next" {
		t.Fatalf("reconnected with token %q, want next", c2.token())
	}
}

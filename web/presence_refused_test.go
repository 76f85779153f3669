package web

import "testing"

// TestClientKeepsItsSubscriptionWhenPresenceIsRefused: the page's own
// subscription is live; a second subscribe of the topic asks for presence
// (onJoin), which the node refuses presence_off as the topic keeps none.
// A refused command did nothing (docs/protocol.md section 2): the node
// keeps the subscription, and so does the client. Both handles stay live
// and get the topic's messages, the one that asked for presence hears the
// refusal once, the other nothing, and after a reconnect the client asks
// for the subscription again without presence, so that it is resumed
// rather than refused.
func TestClientKeepsItsSubscriptionWhenPresenceIsRefused(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.joinGot = []; window.errors = []; window.joinErrors = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100 });
		window.news = h.subscribe('news', (m) => got.push(m.data), { onError: (err) => errors.push(err.code) });
		h.connect();
		return news.ready;
	})`)
	p.run(`window.withJoins = h.subscribe('news', (m) => joinGot.push(m.data),
		{ onJoin: () => {}, onError: (err) => joinErrors.push(err.code) }); 0`)
	p.wait(`joinErrors.length > 0`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1' && joinGot.join() === '1'`)
	p.run(`window.reconnected = new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
		h.close(); h.connect(); reconnected`)
	p.wait(`news.state === 'live'`)
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2' && joinGot.join() === '1,2'`)
	want := "live live [] [presence_off]"
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + '] [' + joinErrors.join() + ']'`); got != want {
		t.Errorf("states and errors %q, want %q (no error for the first handle)", got, want)
	}
	p.checkNoProblems()
}

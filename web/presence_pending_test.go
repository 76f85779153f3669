package web

import "testing"

// TestClientKeepsItsSubscriptionWhenPresencePendingAtADropIsRefused: the
// page's own subscription is live, and a second subscribe of the topic
// asks for presence (onJoin); the connection drops before the node's
// answer reaches the page (the page closes its socket right after sending
// it, so the refusal is never read). The reconnect's resume carries
// presence:true, which the node refuses presence_off as the topic keeps
// none: the subscription goes on without presence, as it does when the
// refusal comes on a live connection (presence_refused_test.go), rather
// than failing with every handle of it. Both handles stay live and get
// what is published after the reconnect, the one that asked for presence
// hears the refusal once, and a second reconnect resumes the subscription
// without asking again. Nothing is reported missed: the subscription is
// resumed.
func TestClientKeepsItsSubscriptionWhenPresencePendingAtADropIsRefused(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.joinGot = []; window.errors = []; window.joinErrors = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100 });
		window.news = h.subscribe('news', (m) => got.push(m.data), {
			onError: (err) => errors.push(err.code), onRecoveryFailed: () => errors.push('recovery failed'),
		});
		h.connect();
		return news.ready;
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	// A WebSocket closing hands the page no message that arrives after
	// close(): the presence subscribe's answer is lost with the connection.
	p.run(`window.reconnects = 0; h.on('state', (s) => { if (s === 'connected') reconnects++; });
		window.withJoins = h.subscribe('news', (m) => joinGot.push(m.data),
			{ onJoin: () => {}, onError: (err) => joinErrors.push(err.code) });
		h._ws.close(); 0`)
	p.wait(`reconnects === 1 && joinErrors.length > 0 && news.state !== 'subscribing'`)
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + ']'`); got != "live live []" {
		t.Fatalf("after the reconnect: states and errors %q, want live live []", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2' && joinGot.join() === '2'`)
	p.run(`h._ws.close(); 0`)
	p.wait(`reconnects === 2 && news.state === 'live'`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	p.wait(`got.join() === '1,2,3' && joinGot.join() === '2,3'`)
	want := "live live [] [presence_off] 1,2,3"
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + '] [' + joinErrors.join() + '] ' + got.join()`); got != want {
		t.Errorf("states, errors and messages %q, want %q", got, want)
	}
	p.checkNoProblems()
}

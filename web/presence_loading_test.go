package web

import "testing"

// TestClientKeepsALoadingSubscriptionWhenPresenceIsRefused: a
// subscription with a backlog, and in the same turn a second subscribe of
// the topic asking for presence (onJoin), on a topic that keeps none. The
// node answers the first, and the client loads the backlog (an
// unsubscribe, then a resume, which asks for presence too now); then it
// refuses the second presence_off, and the load's resume as well. The
// subscription goes on without presence, as a live one does
// (presence_refused_test.go), rather than failing with every handle of
// it: both handles get the backlog, then what is published, and the one
// that asked for presence hears the refusal once.
func TestClientKeepsALoadingSubscriptionWhenPresenceIsRefused(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	for _, data := range []string{"1", "2", "3"} {
		publishHTTP(t, base, `{"topic":"news","data":`+data+`}`)
	}
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.joinGot = []; window.errors = []; window.joinErrors = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100 });
		h.on('error', (err) => errors.push('event ' + err.code));
		h.connect();
		return new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
	})`)
	// Connected, so that each is a subscribe of its own.
	p.run(`window.news = h.subscribe('news', (m) => got.push(m.data), { backlog: 2, onError: (err) => errors.push(err.code) });
		window.withJoins = h.subscribe('news', (m) => joinGot.push(m.data),
			{ onJoin: () => {}, onError: (err) => joinErrors.push(err.code) }); 0`)
	p.wait(`news.state !== 'subscribing' && joinErrors.length > 0`)
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + ']'`); got != "live live []" {
		t.Fatalf("once the backlog loaded: states and errors %q, want live live []", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":4}`)
	p.wait(`got.includes(4) && joinGot.includes(4)`)
	want := "live live [] [presence_off] 2,3,4 / 2,3,4"
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + '] [' + joinErrors.join() + '] ' + got.join() + ' / ' + joinGot.join()`); got != want {
		t.Errorf("states, errors and messages %q, want %q", got, want)
	}
	p.checkNoProblems()
}

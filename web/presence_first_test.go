package web

import "testing"

// TestClientMakesAFirstSubscriptionWithoutThePresenceItsOtherHandleLacks:
// two handles of one topic subscribed before connect(), one of them with
// onJoin, become one subscribe asking for presence, which the node
// refuses presence_off as the topic keeps none. The handle without
// presence handlers would have had the subscription from a subscribe of
// its own, as it has when the two calls are made while connected
// (presence_refused_test.go): the subscription is made without presence,
// both handles are live and get the topic's messages, and only the one
// that asked hears the refusal, once, also after a reconnect.
func TestClientMakesAFirstSubscriptionWithoutThePresenceItsOtherHandleLacks(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.joinGot = []; window.errors = []; window.joinErrors = [];
		window.h = new herald.Herald('/ws', { minDelay: 20, maxDelay: 100 });
		h.on('error', (err) => errors.push('event ' + err.code));
		window.news = h.subscribe('news', (m) => got.push(m.data), { onError: (err) => errors.push(err.code) });
		window.withJoins = h.subscribe('news', (m) => joinGot.push(m.data),
			{ onJoin: () => {}, onError: (err) => joinErrors.push(err.code) });
		h.connect();
		return 0;
	})`)
	p.wait(`news.state !== 'subscribing' && joinErrors.length > 0`)
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + ']'`); got != "live live []" {
		t.Fatalf("after the refusal: states and errors %q, want live live []", got)
	}
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1' && joinGot.join() === '1'`)
	p.run(`window.reconnected = new Promise((resolve) => h.on('state', (s) => s === 'connected' && resolve()));
		h._ws.close(); reconnected`)
	p.wait(`news.state === 'live'`)
	publishHTTP(t, base, `{"topic":"news","data":2}`)
	p.wait(`got.join() === '1,2' && joinGot.join() === '1,2'`)
	want := "live live [] [presence_off]"
	if got := p.value(`news.state + ' ' + withJoins.state + ' [' + errors.join() + '] [' + joinErrors.join() + ']'`); got != want {
		t.Errorf("states and errors %q, want %q", got, want)
	}
	p.checkNoProblems()
}

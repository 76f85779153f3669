package broker

import (
	"fmt"
	"testing"
)

// A client reconnecting finds its token's subs made again as the
// connection opened, before its resumes are read. Its resume of such a
// topic, while that subscription has sent nothing yet, is a resume as
// any other: the history after since, then live, recovered.
func TestResumeOfAServerSubscriptionThatSentNothing(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	publishN(t, b, "user:42.inbox", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"user:42.inbox"}})
	c.waitFor(t, "the token's subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"user:42.inbox","since":{"epoch":"e1","seq":2}}`)
	if r["type"] != "subscribed" || r["recovered"] != true || num(t, r["seq"]) != 5 {
		t.Fatalf("resume of the token's subscription: %v", r)
	}
	publishN(t, b, "user:42.inbox", 1)
	c.waitFor(t, "the live message", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "message")) >= 4
	})
	settle(t, c)
	if got := seqs(t, c.ofType("message")); fmt.Sprint(got) != "[3 4 5 6]" {
		t.Errorf("seqs %v, want [3 4 5 6]", got)
	}
	// Resumed, it has sent all after 2: a second resume from there is
	// recovered, with nothing sent again.
	r = c.do(t, "2", `{"type":"subscribe","id":"2","topic":"user:42.inbox","since":{"epoch":"e1","seq":2}}`)
	settle(t, c)
	if r["recovered"] != true || len(c.ofType("message")) != 4 {
		t.Errorf("a second resume: %v, %d messages, want recovered and 4", r, len(c.ofType("message")))
	}
}

// One that sent a message already is answered as before: its history
// would come after a newer message, so nothing is sent, and the reply
// says recovered:false.
func TestResumeOfAServerSubscriptionThatSentSomething(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	publishN(t, b, "user:42.inbox", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"user:42.inbox"}})
	c.waitFor(t, "the token's subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	settle(t, c)
	publishN(t, b, "user:42.inbox", 1)
	c.waitFor(t, "the live message", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "message")) == 1
	})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"user:42.inbox","since":{"epoch":"e1","seq":2}}`)
	settle(t, c)
	if r["recovered"] != false || fmt.Sprint(seqs(t, c.ofType("message"))) != "[6]" {
		t.Errorf("reply %v and seqs %v, want recovered:false and [6]", r, seqs(t, c.ofType("message")))
	}
}

// The resume of a token's subscription racing publishes: every message
// comes once, in order, and all after since when it says recovered.
func TestResumeOfAServerSubscriptionRacingPublishes(t *testing.T) {
	const total = 120
	for round := range 40 {
		b, _ := newTestBroker(t, Config{RateLimit: -1})
		const since = 3
		publishN(t, b, "t", since)
		published := publishInBackground(t, b, "t", total-since)
		c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"t"}})
		r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t","since":{"epoch":"e1","seq":%d}}`, since)
		published()
		publishN(t, b, "t", 1)
		c.waitFor(t, "the last message", func(msgs []map[string]any, _ int) bool {
			m := c.ofTypeLocked(msgs, "message")
			return len(m) > 0 && num(t, m[len(m)-1]["seq"]) == total+1
		})
		settle(t, c)
		got := seqs(t, c.ofType("message"))
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Fatalf("round %d: seqs %v", round, got)
			}
		}
		if r["recovered"] == true && got[0] != since+1 {
			t.Fatalf("round %d: recovered, but seqs start at %d", round, got[0])
		}
	}
}

// Resumed from further back than history holds, it says recovered:false,
// sends what history has, and is a subscription that did not send
// everything after since: a second resume from there is not recovered.
func TestResumeOfAServerSubscriptionPastHistory(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	e.history = 2
	publishN(t, b, "user:42.inbox", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"user:42.inbox"}})
	c.waitFor(t, "the token's subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"user:42.inbox","since":{"epoch":"e1","seq":1}}`)
	settle(t, c)
	if r["recovered"] != false || fmt.Sprint(seqs(t, c.ofType("message"))) != "[4 5]" {
		t.Fatalf("reply %v and seqs %v, want recovered:false and [4 5]", r, seqs(t, c.ofType("message")))
	}
	if r := c.do(t, "2", `{"type":"subscribe","id":"2","topic":"user:42.inbox","since":{"epoch":"e1","seq":1}}`); r["recovered"] != false {
		t.Errorf("a second resume from 1: %v, want recovered:false", r)
	}
}

// A backend's order gives the connection a topic's messages from then
// on. Resumed with since before it sent anything, it sends the topic's
// history only when the token allows the topic, as a subscribe of the
// client's own would: otherwise it is answered as a subscription the
// connection has (recovered:false, nothing sent), and the history the
// token refuses stays unread.
func TestResumeOfABackendsSubscriptionNeedsTheTokensAllow(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	publishN(t, b, "secret", 5)
	publishN(t, b, "news", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{sub: []string{"news"}}})
	for _, topic := range []string{"secret", "news"} {
		b.HandleControl(Control{Kind: ControlSubscribe, User: "42", Topic: topic})
	}
	c.waitFor(t, "the backend's subscriptions", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 2
	})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"secret","since":{"epoch":"e1","seq":0}}`)
	settle(t, c)
	if r["recovered"] != false || len(c.ofType("message")) != 0 {
		t.Fatalf("resume of a topic the token refuses: %v and seqs %v, want recovered:false and none",
			r, seqs(t, c.ofType("message")))
	}
	r = c.do(t, "2", `{"type":"subscribe","id":"2","topic":"news","since":{"epoch":"e1","seq":0}}`)
	settle(t, c)
	if r["recovered"] != true || fmt.Sprint(seqs(t, c.ofType("message"))) != "[1 2 3 4 5]" {
		t.Errorf("resume of a topic the token allows: %v and seqs %v, want recovered and [1 2 3 4 5]",
			r, seqs(t, c.ofType("message")))
	}
}

// Nor does it when the subscribe hook decides the topic, which refuses
// this client: its token's allow is no longer the say.
func TestResumeOfABackendsSubscriptionUnderTheHook(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: -1, Subscribe: refusingHook{}})
	publishN(t, b, "room.1", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{sub: []string{"room.*"}}})
	b.HandleControl(Control{Kind: ControlSubscribe, User: "42", Topic: "room.1"})
	c.waitFor(t, "the backend's subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"room.1","since":{"epoch":"e1","seq":0}}`)
	settle(t, c)
	if r["recovered"] != false || len(c.ofType("message")) != 0 {
		t.Errorf("resume of a topic the hook refuses: %v and seqs %v, want recovered:false and none",
			r, seqs(t, c.ofType("message")))
	}
}

// A resume of such a subscription whose history cannot be read (the
// engine failing) must not leave it live from its start: what is
// published next would come ahead of the history the client missed,
// which herald.js takes as the resume's, moving past it, and its retry
// from there would be told recovered. The connection is closed 4000, as
// a slow consumer's, and the client resumes from since as it reconnects.
func TestResumeOfAServerSubscriptionTheEngineFailsSendsNothingPastIt(t *testing.T) {
	b, e := newTestBroker(t, Config{})
	publishN(t, b, "user:42.inbox", 5)
	c := connect(t, b, ClientInfo{Subject: "42", Perms: allowList{}, Subs: []string{"user:42.inbox"}})
	c.waitFor(t, "the token's subscription", func(msgs []map[string]any, _ int) bool {
		return len(c.ofTypeLocked(msgs, "subscribed")) == 1
	})
	e.mu.Lock()
	e.failPosition = fmt.Errorf("the engine is down")
	e.mu.Unlock()
	c.s.HandleText([]byte(`{"type":"subscribe","id":"1","topic":"user:42.inbox","since":{"epoch":"e1","seq":2}}`))
	c.waitFor(t, "the resume's end", func(msgs []map[string]any, code int) bool {
		return code != 0 || len(c.ofTypeLocked(msgs, "error")) > 0
	})
	e.mu.Lock()
	e.failPosition = nil
	e.mu.Unlock()
	publishN(t, b, "user:42.inbox", 1)
	if c.code() == 0 {
		settle(t, c) // a closed connection answers no ping
	}
	if got := c.ofType("message"); len(got) != 0 {
		t.Errorf("after the failed resume the client was sent %v, ahead of the history it missed (seqs 3-5)", got)
	}
	if code := c.code(); code != CloseSlowConsumer {
		t.Errorf("close code %d, want %d: the client resumes from since as it reconnects", code, CloseSlowConsumer)
	}
}

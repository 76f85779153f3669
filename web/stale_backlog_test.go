package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestClientLoadsNoBacklogForASubscriptionDroppedBeforeItsAnswer: a page
// that drops a subscription with a backlog before the subscribe is
// answered, and makes it again with a backlog of its own, gets the old
// subscribe's answer first. It is of a subscription no longer the
// page's: loading its backlog (an unsubscribe and a resume) would cost
// the node and the client a subscribe for nothing, and, the page having
// made none again, leave the node holding the topic for nobody. Only the
// new subscription's backlog is loaded.
func TestClientLoadsNoBacklogForASubscriptionDroppedBeforeItsAnswer(t *testing.T) {
	t.Parallel()
	ctx, p, c := connectedToFake(t)
	p.run(`window.old = h.subscribe('news', () => {}, { backlog: 3 });
		old.unsubscribe();
		window.again = h.subscribe('news', (m) => got.push(m.seq), { backlog: 5 })`)
	first := c.expect(ctx, "subscribe")
	drop := c.expect(ctx, "unsubscribe")
	second := c.expect(ctx, "subscribe")
	c.send(subscribed(first, "e1", 10)) // the dropped subscription's answer
	c.send(map[string]any{"type": "unsubscribed", "id": drop["id"], "topic": "news"})
	c.send(subscribed(second, "e1", 10))

	c.expect(ctx, "unsubscribe") // the backlog's load: drop, then resume 5 back
	load := c.expect(ctx, "subscribe")
	if since, _ := load["since"].(map[string]any); since["epoch"] != "e1" || since["seq"] != float64(5) {
		t.Fatalf("the backlog's resume %v, want since {e1, 5}: the new subscription's backlog of 5", load)
	}
	c.send(subscribed(load, "e1", 10, true))
	for seq := 6; seq <= 11; seq++ {
		c.send(epochMessage("news", "e1", seq))
	}
	p.wait(`got.join() === '6,7,8,9,10,11'`)
	p.run(`void h.publish('news', 1).catch(() => {})`)
	c.expect(ctx, "publish") // nothing in between: no other resume
	if got := p.value(`again.state`); got != "live" {
		t.Errorf("the subscription made again is %s, want live", got)
	}
	p.checkNoProblems()
}

// TestClientEndsABacklogsLoadOnlyOnItsOwnAnswer: a page that asks for
// presence on a subscription with a backlog before its first answer sends
// a second subscribe; the first answer starts the backlog's load (an
// unsubscribe and a resume from 3 back), and the second's answer, of a
// subscribe sent before the load's, does not end it: taken for the load's,
// it let a live message through ahead of the backlog, which the resume
// then sent as repeats, dropped.
func TestClientEndsABacklogsLoadOnlyOnItsOwnAnswer(t *testing.T) {
	t.Parallel()
	ctx, p, c := connectedToFake(t)
	p.run(`window.sub = h.subscribe('news', (m) => got.push(m.seq), { backlog: 3 });
		h.subscribe('news', () => {}, { onJoin: () => {} })`)
	first := c.expect(ctx, "subscribe")
	second := c.expect(ctx, "subscribe")
	if second["presence"] != true {
		t.Fatalf("second subscribe %v, want presence:true", second)
	}
	c.send(subscribed(first, "e1", 10))
	drop := c.expect(ctx, "unsubscribe")
	load := c.expect(ctx, "subscribe")
	if since, _ := load["since"].(map[string]any); since["epoch"] != "e1" || since["seq"] != float64(7) {
		t.Fatalf("the backlog's resume %v, want since {e1, 7}", load)
	}
	c.send(subscribed(second, "e1", 10))
	c.send(epochMessage("news", "e1", 11)) // live, before the node took the unsubscribe
	c.send(map[string]any{"type": "unsubscribed", "id": drop["id"], "topic": "news"})
	c.send(subscribed(load, "e1", 11, true))
	for seq := 8; seq <= 11; seq++ {
		c.send(epochMessage("news", "e1", seq))
	}
	c.send(epochMessage("news", "e1", 12))
	p.wait(`got.includes(12)`)
	if got := p.value(`got.join()`); got != "8,9,10,11,12" {
		t.Errorf("messages %s, want the backlog 8,9,10 then 11,12", got)
	}
	p.checkNoProblems()
}

// TestClientEndsABacklogsLoadOnTheResumesAnswer: a page that asks for
// presence on a subscription with a backlog while the backlog loads sends
// a subscribe after the load's resume. The resume's answer ends the load,
// and the backlog it sends is delivered: waiting for the later
// subscribe's answer instead, the client dropped the backlog as it came,
// and the node sends nothing again for a subscribe of what the
// connection has (docs/protocol.md section 2).
func TestClientEndsABacklogsLoadOnTheResumesAnswer(t *testing.T) {
	t.Parallel()
	ctx, p, c := connectedToFake(t)
	p.run(`window.sub = h.subscribe('news', (m) => got.push(m.seq), { backlog: 3 })`)
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 10))
	drop := c.expect(ctx, "unsubscribe")
	load := c.expect(ctx, "subscribe")
	p.run(`h.subscribe('news', () => {}, { onJoin: () => {} })`)
	again := c.expect(ctx, "subscribe")
	if again["presence"] != true {
		t.Fatalf("subscribe %v, want presence:true", again)
	}
	c.send(map[string]any{"type": "unsubscribed", "id": drop["id"], "topic": "news"})
	c.send(subscribed(load, "e1", 10, true))
	for seq := 8; seq <= 10; seq++ {
		c.send(epochMessage("news", "e1", seq))
	}
	c.send(subscribed(again, "e1", 10, true)) // nothing sent again
	c.send(epochMessage("news", "e1", 11))
	p.wait(`got.includes(11)`)
	if got := p.value(`got.join()`); got != "8,9,10,11" {
		t.Errorf("messages %s, want the backlog 8,9,10 then 11", got)
	}
	p.checkNoProblems()
}

// TestClientEndsABacklogsLoadOverTheStreamItFellBackTo: a connection
// that drops while a backlog loads, the client falling back to SSE, is
// followed by a stream that resumes the subscription from the backlog's
// start; its answer ends the load. Waiting for the WebSocket resume's
// answer, which never comes, the subscription dropped every message and
// its ready never settled.
func TestClientEndsABacklogsLoadOverTheStreamItFellBackTo(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	f.mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: subscribed\ndata: {\"topics\":[{\"topic\":\"news\",\"epoch\":\"e1\",\"seq\":10,\"recovered\":true}]}\n\n")
		for seq := 8; seq <= 10; seq++ {
			data, _ := json.Marshal(epochMessage("news", "e1", seq))
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	// maxDelay: the fallback tries WebSocket again only after it, long
	// after the test.
	p := startClient(t, f, "", "{ maxDelay: 60000 }")
	c := f.accept(ctx)
	c.welcome()
	p.wait(`h.state === 'connected'`)
	p.run(`window.sub = h.subscribe('news', (m) => got.push(m.seq), { backlog: 3 });
		void sub.ready.then(() => { window.ready = true; })`)
	c.send(subscribed(c.expect(ctx, "subscribe"), "e1", 10))
	c.expect(ctx, "unsubscribe")
	c.expect(ctx, "subscribe")            // the load's resume, never answered
	p.run(`h._fallBack(); h._ws.close()`) // as two upgrades blocked on the way would, after the drop
	p.wait(`got.length === 3 && window.ready === true`)
	if got := p.value(`got.join()`); got != "8,9,10" {
		t.Errorf("messages %s, want the backlog 8,9,10", got)
	}
	if got := p.value(`sub.state`); got != "live" {
		t.Errorf("subscription %s, want live", got)
	}
	p.checkNoProblems()
}

// connectedToFake opens a page whose client is connected to a fake node,
// welcomed and nothing else yet.
func connectedToFake(t *testing.T) (context.Context, *page, *fakeConn) {
	t.Helper()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	c := f.accept(ctx)
	c.welcome()
	p.wait(`h.state === 'connected'`)
	return ctx, p, c
}

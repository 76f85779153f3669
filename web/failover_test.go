package web

import (
	"net"
	"strings"
	"testing"
)

// TestClientFailsOverToTheNextNode drops the node the client is on and
// checks that it reconnects to the next of its urls, resumes there with the
// epoch and seq it last saw, and comes back round to the first node after
// the last one.
func TestClientFailsOverToTheNextNode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	a, b := newFakeHerald(t), newFakeHerald(t)
	aURL := strings.Replace(a.url("/ws"), "http://", "ws://", 1)
	bURL := strings.Replace(b.url("/ws"), "http://", "ws://", 1)
	p := startClient(t, a, "", `{urls: ['`+bURL+`']}`, "chat.lobby")
	if got := p.value(`h.urls.join()`); got != aURL+","+bURL {
		t.Fatalf("h.urls = %q, want %s,%s", got, aURL, bURL)
	}

	ca := a.accept(ctx)
	ca.welcome()
	ca.send(subscribed(ca.expect(ctx, "subscribe"), "e1", 0))
	ca.send(message("chat.lobby", 1, 1))
	p.wait(`got.join() === '1'`)
	ca.drop()

	cb := b.accept(ctx)
	cb.welcome()
	cmd := cb.expect(ctx, "subscribe")
	since, _ := cmd["since"].(map[string]any)
	if since["epoch"] != "e1" || since["seq"] != float64(1) {
		t.Fatalf("resubscribe on node b %v, want since {e1, 1}", cmd)
	}
	cb.send(subscribed(cmd, "e1", 2, true))
	cb.send(message("chat.lobby", 2, 2))
	p.wait(`got.join() === '1,2' && h.url === '` + bURL + `'`)
	cb.drop()

	ca2 := a.accept(ctx) // after the last node, the first again
	ca2.welcome()
	cmd = ca2.expect(ctx, "subscribe")
	if since, _ := cmd["since"].(map[string]any); since["seq"] != float64(2) {
		t.Fatalf("resubscribe back on node a %v, want since seq 2", cmd)
	}
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("onRecoveryFailed called %s times", n)
	}
}

func TestClientRefusesURLsThatAreNotAList(t *testing.T) {
	t.Parallel()
	f := newFakeHerald(t)
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	got := p.value(`(() => {
		try { new herald.Herald(wsURL, { urls: 'ws://127.0.0.1:1/ws' }); return 'no error'; }
		catch (err) { return err.code + ': ' + err.message; }
	})()`)
	if got != "bad_option: options.urls must be an array of URLs" {
		t.Errorf("a string for urls: %q", got)
	}
}

// TestClientPassesOverADeadNode starts the client with a first node that
// refuses connections: it goes on to the next and stays there.
func TestClientPassesOverADeadNode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	dead, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, f.url("/test.html"), "window.heraldReady === true")
	p.run(`window.got = [];
		window.h = new herald.Herald('ws://` + dead + `/ws', { urls: [wsURL], minDelay: 20, maxDelay: 100, pingInterval: 0 });
		h.subscribe('chat.lobby', (m) => got.push(m.seq));
		h.connect();`)
	c := f.acceptSubscribed(ctx, "e1", 0)
	c.send(message("chat.lobby", 1, 1))
	p.wait(`got.join() === '1' && h.state === 'connected' && h.url === wsURL`)
}

// TestClientPassesOverAHungNode starts the client on a node that takes
// TCP connections and answers nothing, as a stopped (SIGSTOP) or wedged
// process does: the upgrade hangs, and so does the plain GET that asks
// why. The client goes on to the next node over WebSocket, where it can
// publish, rather than taking the hang for a network that blocks
// WebSocket and falling back to Server-Sent Events for good.
func TestClientPassesOverAHungNode(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	hung, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the kernel completes the handshakes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hung.Close() })
	p := newPage(t, base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = [];
		window.h = new herald.Herald('ws://` + hung.Addr().String() + `/ws', { urls: ['/ws'], timeout: 500, minDelay: 20, maxDelay: 100 });
		const sub = h.subscribe('news', (m) => got.push(m.data));
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "websocket" {
		t.Fatalf("transport %q after a hung node, want websocket", tr)
	}
	if res := p.value(`h.publish('news', 1).then(() => 'published', (err) => err.code)`); res != "published" {
		t.Fatalf("publish: %s", res)
	}
	p.wait(`got.join() === '1'`)
	p.checkNoProblems()
}

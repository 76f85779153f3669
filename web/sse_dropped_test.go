package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientOverSSEDropsATopicDroppedWhileTheStreamOpened: a stream asked
// for while the page had a subscription carries it once open, though the
// page dropped it meanwhile: the drop sent nothing (no stream was open to
// reopen). The client reopens the stream without it, as a WebSocket
// welcomed then does not subscribe to it again, so that the node holds no
// subscription the page no longer has (its topic counts a subscriber,
// its subscribe hook's occupancy stays, its messages keep coming).
func TestClientOverSSEDropsATopicDroppedWhileTheStreamOpened(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy, front := newBlockingProxy(t, base)
	release := proxy.cutAndHold()
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.told = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 200, maxDelay: 400 });
		window.news = h.subscribe('news', (m) => got.push(m.data));
		window.gone = h.subscribe('gone', () => {});
		h.on('subscribed', (s) => told.push(s.topic));
		h.connect();
	})`)
	deadline := time.Now().Add(browserTimeout)
	for len(proxy.streamQueries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no stream was asked for")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.run(`gone.unsubscribe()`)
	release()
	p.run(`news.ready`)
	deadline = time.Now().Add(browserTimeout)
	for q := proxy.streamQueries(); strings.Contains(q[len(q)-1], "gone"); q = proxy.streamQueries() {
		if time.Now().After(deadline) {
			t.Fatalf("streams asked for %q: none without the dropped subscription", q)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for topics := nodeTopics(t, base); topics["gone"] != 0; topics = nodeTopics(t, base) {
		if time.Now().After(deadline) {
			t.Fatalf("the node's topics %v: a stream still carries the dropped subscription", topics)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.wait(`h.state === 'connected'`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	if got := p.value(`told.join()`); got != "" {
		t.Errorf("subscriptions the server made, as the page heard: %q, want none", got)
	}
	p.checkNoProblems()
}

// nodeTopics is the node's GET /api/topics: subscribers by topic.
func nodeTopics(t *testing.T, base string) map[string]int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/topics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/topics: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		Topics []struct {
			Topic       string `json:"topic"`
			Subscribers int    `json:"subscribers"`
		} `json:"topics"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("GET /api/topics: %v", err)
	}
	out := map[string]int{}
	for _, tp := range body.Topics {
		out[tp.Topic] = tp.Subscribers
	}
	return out
}

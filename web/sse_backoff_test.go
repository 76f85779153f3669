package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// endingStreams is an /sse that subscribes every stream to the topics
// it asks for (epoch e1, seq 0) and ends the first `failing` of them at
// once; the others stay open until cut.
type endingStreams struct {
	failing int

	mu    sync.Mutex
	count int
	cuts  []chan struct{}
}

func (s *endingStreams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	type topic struct {
		Topic string `json:"topic"`
		Epoch string `json:"epoch"`
		Seq   int    `json:"seq"`
	}
	var topics []topic
	for _, name := range r.URL.Query()["topic"] {
		topics = append(topics, topic{Topic: name, Epoch: "e1"})
	}
	body, _ := json.Marshal(map[string]any{"topics": topics})
	cut := make(chan struct{})
	s.mu.Lock()
	s.count++
	ends := s.count <= s.failing
	s.cuts = append(s.cuts, cut)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprintf(w, "event: subscribed\ndata: %s\n\n", body)
	w.(http.Flusher).Flush()
	if ends {
		return
	}
	select {
	case <-cut:
	case <-r.Context().Done():
	}
}

// cutLast ends the newest stream.
func (s *endingStreams) cutLast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.cuts[len(s.cuts)-1])
}

// TestClientOverSSEStartsTheBackoffOverAfterAHealthyStream: the delay
// before a reconnect starts over after a connection that lived longer
// than maxDelay. Over SSE the client reopens its stream whenever its
// subscriptions change, and a reopen is no new connection: a stream
// that had been healthy for longer than maxDelay, reopened just before
// it dropped, counted as one that died at once, and the client came
// back after the delay its failures before had grown (here maxDelay)
// rather than minDelay.
func TestClientOverSSEStartsTheBackoffOverAfterAHealthyStream(t *testing.T) {
	t.Parallel()
	streams := &endingStreams{failing: 3}
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.Handle("/sse", streams)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := newPage(t, srv.URL+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.delays = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 100, maxDelay: 800 });
		h.on('state', (s, info) => { if (s === 'disconnected') delays.push(info.retryIn); });
		h.subscribe('news', () => {});
		h.connect();
	})`)
	p.wait(`delays.length === 3 && h.state === 'connected'`) // three ended at once, the fourth stays
	if p.value(`delays[2] >= 200`) != "true" {               // the third of a row: 400 ms, jittered down to half at most
		t.Errorf("delays %s after streams that ended at once, want them to grow", p.value(`delays.join()`))
	}
	p.run(`new Promise((resolve) => setTimeout(resolve, 1200))`) // healthy for longer than maxDelay
	p.run(`h.subscribe('sports', () => {}).ready`)               // a reopen
	streams.cutLast()
	p.wait(`delays.length === 4`)
	if p.value(`delays[3] <= 100`) != "true" {
		t.Errorf("delays %s: the last one, want at most minDelay (100) after a stream healthy for longer than maxDelay",
			p.value(`delays.join()`))
	}
	p.checkNoProblems()
}

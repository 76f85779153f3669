package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/store/memory"
)

// A stream opened again with its last event id resumes (docs/protocol.md
// section 10): every topic from where it was, while publishes race it, or
// afresh when history or the id cannot say where.

// TestSSEResumesEveryTopicFromTheLastID: a stream closed and opened again
// with its last id, as a header or in the query, gets what was published
// to each exact topic meanwhile, once, and says recovered:true.
func TestSSEResumesEveryTopicFromTheLastID(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	path := "/sse?topic=a&topic=b&topic=p.>"
	s := mustOpenSSE(t, n.Base, path)
	s.subscribed(t)
	publishN(t, n.Base, "a", 1)
	publishN(t, n.Base, "p.x", 1)
	s.message(t)
	_, last := s.message(t)
	s.close()
	publishN(t, n.Base, "b", 2) // b: 1 and 2
	publishN(t, n.Base, "a", 2) // a: 2 and 3
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			var r *sseStream
			if how == "header" {
				r = mustOpenSSE(t, n.Base, path, "Last-Event-ID", last.id)
			} else {
				r = mustOpenSSE(t, n.Base, path+"&last_event_id="+url.QueryEscape(last.id))
			}
			topics, _ := r.subscribed(t)
			for _, tp := range topics[:2] {
				if tp.Recovered == nil || !*tp.Recovered {
					t.Fatalf("subscribed %+v, want recovered:true", topics)
				}
			}
			if topics[2].Recovered != nil {
				t.Fatalf("pattern %+v says recovered", topics[2])
			}
			got := map[string][]uint64{}
			for range 4 {
				m, _ := r.message(t)
				got[m.Topic] = append(got[m.Topic], m.Seq)
			}
			if len(got["a"]) != 2 || got["a"][0] != 2 || got["a"][1] != 3 || len(got["b"]) != 2 || got["b"][0] != 1 || got["b"][1] != 2 {
				t.Fatalf("resumed with %v", got)
			}
		})
	}
}

// TestSSEResumeRacingPublishes: a publisher keeps publishing while the
// client drops its stream and resumes from the last id it read, again and
// again; in the end it got every seq once, in order.
func TestSSEResumeRacingPublishes(t *testing.T) {
	const total = 200
	// History holds every publish: with the default 100, a publisher more
	// than 100 ahead of the reader at a reconnect (a busy machine) made
	// recovered:false the right answer, not a lost race.
	eng := memory.New(memory.Config{HistorySize: total, HistoryTTL: time.Minute})
	n := sseNode(t, api.Config{}, eng, 0, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=race&topic=other")
	s.subscribed(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			resp, err := http.Post(n.Base+"/api/publish", "application/json", strings.NewReader(`{"topic":"race","data":1}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}
	}()
	var next uint64 = 1
	for round := 0; next <= total; round++ {
		var last string
		for range 15 {
			if next > total {
				break
			}
			m, ev := s.message(t)
			if m.Seq != next {
				t.Fatalf("round %d: seq %d, want %d", round, m.Seq, next)
			}
			next++
			last = ev.id
		}
		s.close()
		if next <= total {
			s = mustOpenSSE(t, n.Base, "/sse?topic=race&topic=other", "Last-Event-ID", last)
			if topics, _ := s.subscribed(t); topics[0].Recovered == nil || !*topics[0].Recovered {
				t.Fatalf("round %d: %+v", round, topics)
			}
		}
	}
	wg.Wait()
}

// TestSSEResumeBeyondHistory: a resume that history no longer covers says
// recovered:false and goes on with what history has.
func TestSSEResumeBeyondHistory(t *testing.T) {
	eng := memory.New(memory.Config{HistorySize: 3, HistoryTTL: time.Minute})
	n := sseNode(t, api.Config{}, eng, 0, 0)
	s := mustOpenSSE(t, n.Base, "/sse?topic=a")
	_, id := s.subscribed(t)
	s.close()
	publishN(t, n.Base, "a", 5)
	r := mustOpenSSE(t, n.Base, "/sse?topic=a", "Last-Event-ID", id)
	topics, _ := r.subscribed(t)
	if topics[0].Recovered == nil || *topics[0].Recovered || *topics[0].Seq != 5 {
		t.Fatalf("subscribed %+v, want recovered:false at seq 5", topics)
	}
	if m, _ := r.message(t); m.Seq != 3 {
		t.Fatalf("first message seq %d, want 3, the oldest history holds", m.Seq)
	}
}

// TestSSEForgedIDStartsAfresh: an id the server did not make resumes
// nothing: the stream starts now, without recovered.
func TestSSEForgedIDStartsAfresh(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	publishN(t, n.Base, "a", 2)
	for _, id := range []string{"garbage", "1.!!!!", "2.AAAAAAAAAAAAA", strings.Repeat("1.AAAAAAAAAAAAA", 100)} {
		s := mustOpenSSE(t, n.Base, "/sse?topic=a", "Last-Event-ID", id)
		topics, _ := s.subscribed(t)
		if topics[0].Recovered != nil || *topics[0].Seq != 2 {
			t.Fatalf("id %q: %+v", id, topics)
		}
		s.close()
	}
}

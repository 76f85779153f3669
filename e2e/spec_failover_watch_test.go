package e2e

// Helpers of the failover probes (spec_failover_*_test.go): a publisher
// that keeps publishing through a failover and keeps what was
// acknowledged, and watchers that keep every message and gap one
// subscription got, over WebSocket or /sse, so that a test can hold what
// they saw against what was acknowledged (sections 2, 10 and 12).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// historySize is the history the failover probes' nodes keep of a topic:
// more than a publisher sends in the longest a node may take to read
// what its pub/sub lost, so that a gap tells of a message that history
// lost, not of one published too fast for it.
const historySize = "10000"

// ack is one publish the node answered 200, its data the publish's index.
type ack struct {
	i   int
	seq uint64
	msg string
}

// publisher publishes {"i":n} to topic on one node, one after another,
// until stopped; publishes not answered 200 are not acknowledged and
// are left out.
type publisher struct {
	mu   sync.Mutex
	acks []ack
	odd  []string // answers neither 200 nor 503 unavailable
	stop chan struct{}
	done chan struct{}
}

func startPublisher(t *testing.T, n *node, topic string) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: wait}
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			resp, err := client.Post(n.base+"/api/publish", "application/json",
				strings.NewReader(fmt.Sprintf(`{"topic":%q,"data":{"i":%d}}`, topic, i)))
			if err != nil {
				p.note(fmt.Sprintf("publish %d: %v", i, err))
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			var r struct {
				Seq uint64 `json:"seq"`
				Msg string `json:"msg"`
			}
			if resp.StatusCode != http.StatusOK || err != nil || json.Unmarshal(body, &r) != nil {
				if resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "unavailable" {
					p.note(fmt.Sprintf("publish %d: %d %s", i, resp.StatusCode, body))
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			p.mu.Lock()
			p.acks = append(p.acks, ack{i, r.Seq, r.Msg})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.halt() })
	return p
}

func (p *publisher) note(odd string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.odd = append(p.odd, odd)
}

// oddAnswers fails if a publish was answered otherwise than 200 or 503
// unavailable (section 3), or not in time.
func (p *publisher) oddAnswers(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, odd := range p.odd {
		t.Errorf("publisher: %s", odd)
	}
}

// acked is how many publishes were acknowledged so far.
func (p *publisher) acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// waitAcked waits until n publishes more than after were acknowledged.
func (p *publisher) waitAcked(t *testing.T, after, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for p.acked() < after+n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d publishes acknowledged, want %d", p.acked(), after+n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// halt stops publishing and returns what was acknowledged.
func (p *publisher) halt() []ack {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ack(nil), p.acks...)
}

// seen is one message or gap a subscription got, in the order it came.
type seen struct {
	gap      bool
	epoch    string
	seq      uint64 // of a message
	from, to uint64 // of a gap
	msg      string
	i        int // the publish's index, of a message
	id       string
}

func seenOf(m map[string]any) (seen, bool) {
	num := func(k string) uint64 { f, _ := m[k].(float64); return uint64(f) }
	s := seen{epoch: fmt.Sprint(m["epoch"])}
	switch m["type"] {
	case "message":
		s.seq, s.msg = num("seq"), fmt.Sprint(m["msg"])
		d, _ := m["data"].(map[string]any)
		f, ok := d["i"].(float64)
		s.i = int(f)
		return s, ok // not the publisher's: the tests' own probes
	case "gap":
		s.gap, s.from, s.to = true, num("from"), num("to")
		return s, true
	}
	return s, false
}

// watchWS reads c's messages and gaps until one of publish index last or
// later came.
func watchWS(t *testing.T, c *client, last int) []seen {
	t.Helper()
	var got []seen
	var others []string
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatal("connection ended while watching")
			}
			s, ok := seenOf(f.obj())
			if !ok {
				others = append(others, string(f.text))
				continue
			}
			got = append(got, s)
			if !s.gap && s.i >= last {
				return got
			}
		case <-deadline:
			t.Errorf("publish %d not seen in time; got %s and %q", last, runs(got), others)
			return got
		}
	}
}

// watchSSE reads s's messages and gaps, with their ids, until one of
// publish index last or later came.
func watchSSE(t *testing.T, s *sseStream, last int) []seen {
	t.Helper()
	var got []seen
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("stream ended while watching")
			}
			m := ev.dataObj()
			if ev.event == "gap" || (ev.event == "" && ev.comment == "") {
				if x, ok := seenOf(m); ok {
					x.id = ev.id
					got = append(got, x)
					if !x.gap && x.i >= last {
						return got
					}
				}
			}
		case <-deadline:
			t.Errorf("publish %d not seen in time; got %s", last, runs(got))
			return got
		}
	}
}

// fillLink sets key on the master at addr to 32 MiB, more than the
// socket buffers of its link to a stopped replica hold, so that what the
// master takes after it stays in the master's memory (loseWhatFollows
// does the same).
func fillLink(t *testing.T, addr, key string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.Set(t.Context(), key, strings.Repeat("x", 32<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
}

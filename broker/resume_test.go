package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func publishN(t testing.TB, b *Broker, topic string, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.Publish(t.Context(), topic, []byte(fmt.Sprint(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
}

// publishInBackground publishes n messages on a goroutine of its own. The
// function it returns waits for them and fails t, on the test's own
// goroutine, if one failed.
func publishInBackground(t testing.TB, b *Broker, topic string, n int) (wait func()) {
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := b.Publish(t.Context(), topic, []byte(fmt.Sprint(i)), ""); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return func() {
		t.Helper()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(t testing.TB, msgs []map[string]any) []uint64 {
	var out []uint64
	for _, m := range msgs {
		out = append(out, num(t, m["seq"]))
	}
	return out
}

func TestResume(t *testing.T) {
	tests := []struct {
		name      string
		history   int
		unsure    bool
		since     string
		recovered bool
		want      []uint64
		seq       uint64
	}{
		{"everything kept", 0, false, `{"epoch":"e1","seq":2}`, true, []uint64{3, 4, 5}, 5},
		{"from the start", 0, false, `{"epoch":"e1","seq":0}`, true, []uint64{1, 2, 3, 4, 5}, 5},
		{"up to date", 0, false, `{"epoch":"e1","seq":5}`, true, nil, 5},
		{"history too short", 2, false, `{"epoch":"e1","seq":1}`, false, []uint64{4, 5}, 5},
		{"epoch changed", 0, false, `{"epoch":"old","seq":2}`, false, nil, 5},
		{"ahead of the topic", 0, false, `{"epoch":"e1","seq":9}`, false, nil, 5},
		// After a failover Redis may have lost what it acknowledged last.
		{"engine unsure", 0, true, `{"epoch":"e1","seq":2}`, false, []uint64{3, 4, 5}, 5},
		{"engine unsure, up to date", 0, true, `{"epoch":"e1","seq":5}`, false, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, e := newTestBroker(t, Config{})
			e.history, e.unsure = tt.history, tt.unsure
			publishN(t, b, "t", 5)
			c := connect(t, b, ClientInfo{})
			r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t","since":%s}`, tt.since)
			if r["type"] != "subscribed" || r["recovered"] != tt.recovered || num(t, r["seq"]) != tt.seq || r["epoch"] != "e1" {
				t.Fatalf("reply %v", r)
			}
			publishN(t, b, "t", 1)
			want := append(tt.want, 6)
			c.waitFor(t, "live message", func(m []map[string]any, _ int) bool {
				return len(c.ofTypeLocked(m, "message")) >= len(want)
			})
			if got := seqs(t, c.ofType("message")); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("seqs %v, want %v", got, want)
			}
		})
	}
}

// TestResumeRacingPublishes resumes while a publisher runs, many times:
// every message after since arrives once, in order.
func TestResumeRacingPublishes(t *testing.T) {
	const total = 120
	for round := range 40 {
		b, _ := newTestBroker(t, Config{RateLimit: -1})
		since := uint64(round % 7)
		publishN(t, b, "t", int(since))
		published := publishInBackground(t, b, "t", total-int(since))
		c := connect(t, b, ClientInfo{})
		r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t","since":{"epoch":"e1","seq":%d}}`, since)
		if r["recovered"] != true {
			t.Fatalf("round %d: %v", round, r)
		}
		published()
		c.waitFor(t, "all messages", func(m []map[string]any, _ int) bool {
			return len(c.ofTypeLocked(m, "message")) >= total-int(since)
		})
		c.do(t, "sync", `{"type":"ping","id":"sync"}`)
		got := seqs(t, c.ofType("message"))
		if len(got) != total-int(since) {
			t.Fatalf("round %d: %d messages, want %d", round, len(got), total-int(since))
		}
		for i, s := range got {
			if s != since+uint64(i)+1 {
				t.Fatalf("round %d: seqs %v", round, got)
			}
		}
	}
}

// TestPlainSubscribeRacingPublishes: a plain subscribe gets exactly the
// messages after the seq in its reply.
func TestPlainSubscribeRacingPublishes(t *testing.T) {
	const total = 100
	for round := range 30 {
		b, _ := newTestBroker(t, Config{RateLimit: -1})
		published := publishInBackground(t, b, "t", total)
		c := connect(t, b, ClientInfo{})
		r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"t"}`)
		start := num(t, r["seq"])
		published()
		c.waitFor(t, "all messages", func(m []map[string]any, _ int) bool {
			return len(c.ofTypeLocked(m, "message")) >= total-int(start)
		})
		c.do(t, "sync", `{"type":"ping","id":"sync"}`)
		got := seqs(t, c.ofType("message"))
		if len(got) != total-int(start) {
			t.Fatalf("round %d: start %d, %d messages", round, start, len(got))
		}
		for i, s := range got {
			if s != start+uint64(i)+1 {
				t.Fatalf("round %d: start %d, seqs %v", round, start, got)
			}
		}
	}
}

// TestSeqOrderUnderConcurrentPublishers: every subscriber, exact or
// pattern, sees each topic's messages once and in seq order.
func TestSeqOrderUnderConcurrentPublishers(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: -1})
	topics := []string{"room.a", "room.b", "room.c"}
	patterns := []string{"room.a", "room.b", "room.c", "room.*", "room.>", ">"}
	var clients []*client
	for i := range 24 {
		c := connect(t, b, ClientInfo{})
		c.do(t, "s", `{"type":"subscribe","id":"s","topic":"%s"}`, patterns[i%len(patterns)])
		if i%len(patterns) >= 3 { // some hold a pattern and an exact topic
			c.do(t, "x", `{"type":"subscribe","id":"x","topic":"room.a"}`)
		}
		clients = append(clients, c)
	}
	const perPublisher = 50
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for p := range 6 {
		wg.Add(1)
		go func() { // fails nothing itself: t.Fatal belongs to the test's goroutine
			defer wg.Done()
			pub := connect(t, b, ClientInfo{})
			for i := range perPublisher {
				id := fmt.Sprint(i)
				pub.s.HandleText(fmt.Appendf(nil, `{"type":"publish","id":"%s","topic":"%s","data":%d}`, id, topics[(p+i)%3], i))
				if !pub.await(10*time.Second, hasReply(id)) {
					errs <- fmt.Errorf("publisher %d: no reply to publish %s", p, id)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, c := range clients {
		want := 6 * perPublisher / 3 // one topic
		if i%len(patterns) >= 3 {
			want = 6 * perPublisher
		}
		c.waitFor(t, "all messages", func(m []map[string]any, _ int) bool {
			return len(c.ofTypeLocked(m, "message")) >= want
		})
		c.do(t, "sync", `{"type":"ping","id":"sync"}`)
		last := map[string]uint64{}
		msgs := c.ofType("message")
		if len(msgs) != want {
			t.Fatalf("client %d got %d messages, want %d", i, len(msgs), want)
		}
		for _, m := range msgs {
			topic, seq := m["topic"].(string), num(t, m["seq"])
			if seq != last[topic]+1 {
				t.Fatalf("client %d: %s seq %d after %d", i, topic, seq, last[topic])
			}
			last[topic] = seq
		}
	}
}

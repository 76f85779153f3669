package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The checks of spec_modes_contract_test.go on publishing: sections 2, 3,
// 10 and 13 over topics that on a Cluster live on three masters.

// published is what a publish was answered: a message to look for.
type published struct {
	topic, msg, data string
	seq              uint64
}

// publishesAcrossMasters: a broadcast, a batch and idempotent publishes
// sent to one node, over topics on each master, reach the other node's
// subscribers by `>`, by `*` and by topic, each message once per
// connection, tagged with a pattern it matches, in seq order per topic;
// history answers them as WebSocket sends them, and /sse sends the same
// JSON text (sections 1-3, 10).
func publishesAcrossMasters(t *testing.T, a, b *process, spread func(string) []string) {
	ts := spread("w.")
	tok := anyToken(t, "p")
	all, star, exact := wsOpen(t, a.ws+"?token="+tok, dialOpts{}), wsOpen(t, a.ws+"?token="+tok, dialOpts{}), wsOpen(t, a.ws+"?token="+tok, dialOpts{})
	all.subscribe("s", ">")
	star.subscribe("s", "w.*")
	exact.subscribe("s", ts[0])
	both := wsOpen(t, b.ws+"?token="+tok, dialOpts{})
	for _, p := range []string{ts[0], "w.*", "w.>"} {
		both.subscribe("s", p)
	}
	stream := openStream(t, b.base+"/sse?token="+tok+"&topic="+ts[0], nil)

	var sent []published
	code, body := rawPost(t, &b.node, "/api/broadcast", fmt.Sprintf(`{"topics":[%q,%q,%q],"data":{"k":"v"}}`, ts[0], ts[1], ts[2]))
	sent = append(sent, results(t, "broadcast", code, body, ts, []string{`{"k":"v"}`, `{"k":"v"}`, `{"k":"v"}`})...)
	code, body = rawPost(t, &a.node, "/api/batch", fmt.Sprintf(`{"messages":[{"topic":%q,"data":1},{"topic":%q,"data":[2]},{"topic":%q,"data":"3"},{"topic":%q,"data":{"n":4}}]}`, ts[0], ts[1], ts[2], ts[0]))
	sent = append(sent, results(t, "batch", code, body, []string{ts[0], ts[1], ts[2], ts[0]}, []string{`1`, `[2]`, `"3"`, `{"n":4}`})...)
	for i, want := range []uint64{1, 1, 1, 2, 2, 2, 3} {
		if sent[i].seq != want {
			t.Fatalf("seqs of the broadcast and the batch: %v, want 1 1 1 2 2 2 3", sent)
		}
	}

	// One key, sent to both nodes: published once. The same key on
	// another topic (another master) is another publish (section 3).
	first := idempotent(t, a, ts[1], "k-1", `"once"`)
	if again := idempotent(t, b, ts[1], "k-1", `"once"`); again != first {
		t.Errorf("a publish repeated with its key on the other node: %+v, the first %+v", again, first)
	}
	other := idempotent(t, b, ts[2], "k-1", `"other"`)
	if other.seq != 3 || other.msg == first.msg {
		t.Errorf("the key of %s on %s: %+v, want a publish of its own, seq 3", ts[1], ts[2], other)
	}
	sent = append(sent, first, other)

	for _, sub := range []struct {
		c    *client
		subs []string
	}{{all, []string{">"}}, {star, []string{"w.*"}}, {both, []string{ts[0], "w.*", "w.>"}}} {
		what := strings.Join(sub.subs, ", ") + " on a"
		if sub.c == both {
			what = strings.Join(sub.subs, ", ") + " on b"
		}
		got := receive(t, what, sub.c, len(sent))
		for _, p := range sent {
			m, ok := got[p.msg]
			if !ok {
				t.Errorf("%s never got %+v", what, p)
				continue
			}
			if m.Topic != p.topic || m.Seq != p.seq || string(m.Data) != p.data {
				t.Errorf("%s got %s for %+v", what, m.text, p)
			}
			// Untagged only by its own topic; tagged only by a pattern held.
			if tag := cmp.Or(m.Pattern, m.Topic); !slices.Contains(sub.subs, tag) || m.Pattern == m.Topic {
				t.Errorf("%s: %s tagged %q", what, m.text, m.Pattern)
			}
		}
		sub.c.quiet(what + " after every message once")
	}

	// ts[0] on a by topic, on b by /sse, and in history: the same JSON.
	var history struct {
		Topic, Epoch string
		Seq          uint64
		Messages     []json.RawMessage
	}
	getJSON(t, a.base+"/api/history?topic="+ts[0]+"&since=1&limit=1", &history)
	for i := range 3 {
		m, ev := exact.next(), stream.next()
		if m.Type != "message" || m.Pattern != "" || m.Seq != uint64(i+1) || ev.data != string(m.text) {
			t.Errorf("%s's message %d: %s by WebSocket on a, %s by /sse on b", ts[0], i+1, m.text, ev.data)
		}
		if i == 1 && (history.Seq != 3 || history.Epoch != m.Epoch || len(history.Messages) != 1 || string(history.Messages[0]) != string(m.text)) {
			t.Errorf("history of %s after 1, limit 1: %+v, want seq 3 and %s", ts[0], history, m.text)
		}
	}
	exact.quiet(ts[0] + " by topic after its three messages")

	// Both nodes publish to every topic at once: one seq order per topic,
	// cluster-wide, for subscribers on either node (sections 2, 4).
	var wg sync.WaitGroup
	for _, n := range []*process{a, b} {
		for _, topic := range ts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					publish(t, &n.node, topic, fmt.Sprint(i))
				}
			}()
		}
	}
	wg.Wait()
	for what, c := range map[string]*client{"> on a": all, "w.>, w.* and " + ts[0] + " on b": both} {
		got := receive(t, what, c, 3*40)
		for _, m := range got {
			if m.Seq < 4 || m.Seq > 43 {
				t.Errorf("%s: %s, want seqs 4 to 43", what, m.text)
			}
		}
	}
}

// results checks the 200 reply of a broadcast or batch: one result per
// topic, in order.
func results(t *testing.T, what string, code int, body string, topics, data []string) []published {
	t.Helper()
	var r struct {
		Results []struct {
			Topic, Msg string
			Seq        uint64
		}
	}
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil || len(r.Results) != len(topics) {
		t.Fatalf("%s: %d %s", what, code, body)
	}
	var out []published
	for i, res := range r.Results {
		if res.Topic != topics[i] || res.Msg == "" || res.Seq == 0 {
			t.Errorf("%s: result %d is %+v, want %s", what, i, res, topics[i])
		}
		out = append(out, published{topic: res.Topic, msg: res.Msg, seq: res.Seq, data: data[i]})
	}
	return out
}

// idempotent publishes data to topic on n with key.
func idempotent(t *testing.T, n *process, topic, key, data string) published {
	t.Helper()
	code, body := rawPost(t, &n.node, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":%s,"idempotency_key":%q}`, topic, data, key))
	var r struct {
		Topic, Msg string
		Seq        uint64
	}
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil || r.Topic != topic {
		t.Fatalf("publish to %s with key %s: %d %s", topic, key, code, body)
	}
	return published{topic: r.Topic, msg: r.Msg, seq: r.Seq, data: data}
}

// receive reads n messages from c, by msg, and fails on any message that
// comes twice or out of its topic's seq order.
func receive(t *testing.T, what string, c *client, n int) map[string]frame {
	t.Helper()
	got, last := map[string]frame{}, map[string]uint64{}
	for range n {
		f := c.next()
		if f.Type != "message" {
			t.Fatalf("%s: %s", what, f.text)
		}
		if _, twice := got[f.Msg]; twice || f.Seq <= last[f.Topic] {
			t.Errorf("%s: %s after seq %d", what, f.text, last[f.Topic])
		}
		got[f.Msg], last[f.Topic] = f, f.Seq
	}
	return got
}

// retryAcrossAFailover: a publish with an idempotency key was answered
// and replicated, its topic's master dies and a replica takes over; the
// publisher, told nothing, retries with the same key on the other node:
// "which answers the first result" (section 3), and nothing is published
// twice (section 12: nodes go on by themselves after a failover).
func retryAcrossAFailover(t *testing.T, a, b *process, failover func(*testing.T, string)) {
	topic := "retry.k"
	sub := wsOpen(t, a.ws+"?token="+anyToken(t, "k"), dialOpts{})
	sub.subscribe("s", topic)
	first := idempotent(t, a, topic, "k-retry", `"once"`)
	if m := sub.next(); m.Msg != first.msg {
		t.Fatalf("the subscriber got %s, want %+v", m.text, first)
	}
	failover(t, topic)
	var again published
	eventually(t, "the retry answered after the failover", func() bool {
		code, body := rawPost(t, &b.node, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":"once","idempotency_key":"k-retry"}`, topic))
		if code == http.StatusServiceUnavailable {
			return false
		}
		var r struct {
			Msg string
			Seq uint64
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("the retry after the failover: %d %s", code, body)
		}
		again = published{topic: topic, msg: r.Msg, seq: r.Seq, data: `"once"`}
		return true
	})
	if again != first {
		t.Errorf("the retry with the key after the failover: %+v, the first answer %+v", again, first)
	}
	publish(t, &b.node, topic, `"after"`)
	for m := sub.next(); string(m.Data) != `"after"`; m = sub.next() {
		if m.Type == "message" {
			t.Errorf("the subscriber got %s after the retry, want only the message after it", m.text)
		}
	}
}

package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/api"
)

// What a resume queues fits in the write queue, the message that passes
// the engine's read budget included: with messages of 500 KB, a history
// of two was read whole (the first under the 960 KiB budget, the second
// passing it) and queued past the default 1 MiB, so the client was closed
// as a slow consumer with what it had read dropped, and resuming again
// read the same two. Now it gets the first, close 4000, then the second.
func TestResumeOfLargeMessagesFitsInTheQueue(t *testing.T) {
	n := startNode(t, api.Config{MaxMessageBytes: 512 << 10}, nil)
	const published = 2
	pad := strings.Repeat("x", 500_000)
	for i := range published {
		n.post(t, "/api/publish", fmt.Sprintf(`{"topic":"large","data":"%d %s"}`, i+1, pad)).wantOK(t, &published_{})
	}
	var pos published_
	if err := json.Unmarshal(mustDial(t, n).command(`{"type":"subscribe","id":"s","topic":"large"}`), &pos); err != nil || pos.Seq != published {
		t.Fatalf("subscribe: %+v, %v", pos, err)
	}
	var got []uint64
	for resumes := 0; len(got) < published; resumes++ {
		if resumes == published {
			t.Fatalf("%d resumes got %v of %d messages", resumes, got, published)
		}
		c := mustDial(t, n)
		c.send(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":"large","since":{"epoch":%q,"seq":%d}}`, pos.Epoch, len(got)))
		if r := c.read(); !strings.Contains(string(r), `"recovered":true`) {
			t.Fatalf("resume from seq %d: %s", len(got), r)
		}
		seqs, code := readUntilClose(t, c, len(got) == 0)
		if len(seqs) != 1 || seqs[0] != uint64(len(got)+1) {
			t.Fatalf("a resume from seq %d sent %v, want the next message alone", len(got), seqs)
		}
		if want := 4000; len(got) == 0 && int(code) != want {
			t.Fatalf("the first resume closed with %d, want %d after the one message that fits", code, want)
		}
		got = append(got, seqs...)
	}
}

// A stream's topics each read up to their share of the budget and the
// message that passes it; together they queue no more than the budget,
// counted as the events they become, whose ids name every topic. Read
// past it, the stream overflowed its queue before its response was
// written, and the client read "close" where the status line should be:
// two topics of nine 60 KB messages (1.08 MB of data), or 32 topics of
// 100 tiny ones (3,200 events with ids of 780 bytes).
func TestStreamResumeFitsInTheQueue(t *testing.T) {
	for _, tc := range []struct {
		name             string
		topics, perTopic int
		data             string
	}{
		{"large messages", 2, 9, `"` + strings.Repeat("x", 60_000) + `"`},
		{"many topics", 32, 100, `1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var topics []string
			for i := range tc.topics {
				topics = append(topics, fmt.Sprintf("wide.%d", i))
			}
			resumeStreamWhole(t, topics, tc.perTopic, tc.data)
		})
	}
}

// resumeStreamWhole publishes perTopic messages of data to each topic
// after a stream of them opened, and resumes it from its first id until
// it has them all, in order.
func resumeStreamWhole(t *testing.T, topics []string, perTopic int, data string) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	path := "/sse?topic=" + strings.Join(topics, "&topic=")
	s := mustOpenSSE(t, n.Base, path)
	_, lastID := s.subscribed(t)
	s.close()
	for _, topic := range topics {
		for range perTopic {
			postPublish(t, n.Base, fmt.Sprintf(`{"topic":%q,"data":%s}`, topic, data))
		}
	}
	got := map[string]uint64{}
	total, want := 0, perTopic*len(topics)
	for resumes := 0; total < want; resumes++ {
		if resumes == 5 {
			t.Fatalf("%d resumes got %d of %d messages", resumes, total, want)
		}
		s := mustOpenSSE(t, n.Base, path, "Last-Event-ID", lastID)
		s.subscribed(t)
		for total < want {
			ev := s.event(t)
			if ev.event == "close" {
				var c struct{ Code int }
				if err := json.Unmarshal([]byte(ev.data), &c); err != nil || c.Code != 4000 {
					t.Fatalf("stream closed with %q, want 4000", ev.data)
				}
				break
			}
			var m streamMessage
			if ev.event != "" || json.Unmarshal([]byte(ev.data), &m) != nil || m.Seq != got[m.Topic]+1 {
				t.Fatalf("event %+v after %d messages, want the next message of its topic", ev, total)
			}
			got[m.Topic] = m.Seq
			total++
			lastID = ev.id
		}
		s.close()
	}
}

// The resumes a client sends together after a reconnect each fit beside
// what the ones before them queued: three topics with 800 KB of history
// each, resumed in one write, queued 2.4 MB on a 1 MiB queue, which
// dropped it, the first topic's history with it, and closed the client
// with 4000. Now each resume sends what fits beside what is queued (the
// first topic's whole history, none of it dropped), the connection
// closes with 4000 behind it, and resuming again from what the client got
// goes on, none skipped.
func TestResumesSentTogetherFitBesideEachOther(t *testing.T) {
	n := startNode(t, api.Config{MaxMessageBytes: 512 << 10}, nil)
	const perTopic = 2
	topics := []string{"stack.a", "stack.b", "stack.c"}
	pad := strings.Repeat("x", 400_000)
	epochs := map[string]string{}
	for _, topic := range topics {
		for i := range perTopic {
			n.post(t, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":"%d %s"}`, topic, i+1, pad)).wantOK(t, &published_{})
		}
		var pos published_
		if err := json.Unmarshal(mustDial(t, n).command(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":%q}`, topic)), &pos); err != nil {
			t.Fatal(err)
		}
		epochs[topic] = pos.Epoch
	}
	got := map[string]uint64{}
	for conns := 0; ; conns++ {
		if conns == 2*len(topics)*perTopic {
			t.Fatalf("%d connections got %v", conns, got)
		}
		c := mustDial(t, n)
		var cmds strings.Builder
		for _, topic := range topics {
			fmt.Fprintf(&cmds, `{"type":"subscribe","id":%q,"topic":%q,"since":{"epoch":%q,"seq":%d}}`+"\n", topic, topic, epochs[topic], got[topic])
		}
		for _, cmd := range strings.Split(strings.TrimSpace(cmds.String()), "\n") {
			c.send(cmd)
		}
		code := readResumes(t, c, len(topics), got)
		if conns == 0 && got[topics[0]] != perTopic {
			t.Fatalf("the first connection got %v (close %d): the first topic's history, which fits alone, was dropped", got, code)
		}
		if code == 0 {
			break
		}
		if code != 4000 {
			t.Fatalf("closed with %d, want 4000", code)
		}
	}
	for _, topic := range topics {
		if got[topic] != perTopic {
			t.Fatalf("got %v, want %d of each topic", got, perTopic)
		}
	}
}

// readResumes reads a connection's replies and messages after it sent
// its resumes of topics, checking that each topic's messages follow on
// from got, until it closes (its code) or, every resume answered, answers
// a ping (0): the ping is run after them, and its pong is queued behind
// their history.
func readResumes(t *testing.T, c *wsClient, topics int, got map[string]uint64) ws.StatusCode {
	t.Helper()
	for answered := 0; ; {
		raw, err := c.next()
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			return closed.Code
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			Type, Topic string
			Seq         uint64
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case "message":
			if m.Seq != got[m.Topic]+1 {
				t.Fatalf("%s seq %d after %d", m.Topic, m.Seq, got[m.Topic])
			}
			got[m.Topic] = m.Seq
		case "pong":
			return 0
		case "subscribed":
			if answered++; answered == topics {
				c.send(`{"type":"ping","id":"p"}`)
			}
		default:
			t.Fatalf("unexpected %.200s", raw)
		}
	}
}

// postPublish posts body to base's /api/publish, which must take it.
func postPublish(t *testing.T, base, body string) {
	t.Helper()
	resp, err := http.Post(base+"/api/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
}

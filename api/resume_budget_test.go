package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/internal/redistest"
)

// A resume reads from Redis no more than its client can take: its write
// queue (1 MiB by default) less 64 KiB of message data, and none from another
// epoch. Read whole, each subscribe with since cost Redis a copy of the
// topic's whole history, 6 MB of 100 messages at the size limit, even
// when nothing of it was sent (another epoch), or when the client was
// then closed as a slow consumer anyway. A client whose missed messages
// pass the budget gets the first of them and close 4000, and resumes from
// its last one until it has them all, none skipped.
func TestResumeReadsWithinTheWriteQueue(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	n := startNode(t, api.Config{MaxMessageBytes: 64 << 10}, redisEngine(t, srv.URL()))
	const published, dataBytes, budget = 40, 30 << 10, 960 << 10 // budget: the default queue less 64 KiB
	pad := strings.Repeat("x", dataBytes)
	for i := range published {
		var pub published_
		n.post(t, "/api/publish", fmt.Sprintf(`{"topic":"big","data":"%d %s"}`, i+1, pad)).wantOK(t, &pub)
	}

	// Another epoch: nothing to send, and (almost) nothing read.
	c := mustDial(t, n)
	before := redisOutput(t, admin)
	reply := c.command(`{"type":"subscribe","id":"s","topic":"big","since":{"epoch":"gone","seq":0}}`)
	var pos published_
	if err := json.Unmarshal(reply, &pos); err != nil || pos.Seq != published || !strings.Contains(string(reply), `"recovered":false`) {
		t.Fatalf("resume from another epoch: %s", reply)
	}
	if sent := redisOutput(t, admin) - before; sent > 64<<10 {
		t.Fatalf("a resume from another epoch took %d bytes out of Redis, want under 64 KiB (history holds %d)", sent, published*dataBytes)
	}

	var got []uint64
	closes := 0
	for len(got) < published && closes <= published {
		c := mustDial(t, n)
		before := redisOutput(t, admin)
		c.send(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":"big","since":{"epoch":%q,"seq":%d}}`, pos.Epoch, len(got)))
		if r := c.read(); !strings.Contains(string(r), `"recovered":true`) {
			t.Fatalf("resume from seq %d: %s", len(got), r)
		}
		seqs, code := readUntilClose(t, c, len(got) == 0)
		if sent := redisOutput(t, admin) - before; sent > budget+2*dataBytes {
			t.Fatalf("a resume took %d bytes out of Redis, want at most the budget of %d and a message", sent, budget)
		}
		for _, seq := range seqs {
			if want := uint64(len(got) + 1); seq != want {
				t.Fatalf("got seq %d after %v, want %d", seq, got, want)
			}
			got = append(got, seq)
		}
		if code == 0 {
			break // live: it had them all
		}
		if code != 4000 || len(seqs) == 0 {
			t.Fatalf("a resume past the budget closed with %d after %d messages, want 4000 after some", code, len(seqs))
		}
		closes++
	}
	if len(got) != published || closes == 0 {
		t.Fatalf("resumed %d of %d messages in %d closes; want all, and the first resume cut", len(got), published, closes)
	}
}

// A history that a write queue takes whole resumes in one go, as before
// resumes were bounded: 100 messages of 9 KiB (the default history, 900
// KiB) against the default queue of 1 MiB.
func TestResumeOfAQueueFulResumesWhole(t *testing.T) {
	n := startNode(t, api.Config{MaxMessageBytes: 64 << 10}, redisEngine(t, redistest.Start(t).URL()))
	const published = 100
	pad := strings.Repeat("x", 9<<10)
	for i := range published {
		n.post(t, "/api/publish", fmt.Sprintf(`{"topic":"big","data":"%d %s"}`, i+1, pad)).wantOK(t, &published_{})
	}
	var pos published_
	if err := json.Unmarshal(mustDial(t, n).command(`{"type":"subscribe","id":"s","topic":"big"}`), &pos); err != nil || pos.Seq != published {
		t.Fatalf("subscribe: %+v, %v", pos, err)
	}
	c := mustDial(t, n)
	c.send(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":"big","since":{"epoch":%q,"seq":0}}`, pos.Epoch))
	if r := c.read(); !strings.Contains(string(r), `"recovered":true`) {
		t.Fatalf("resume: %s", r)
	}
	seqs, code := readUntilClose(t, c, true)
	if code != 0 || len(seqs) != published {
		t.Fatalf("a resume of %d messages of 9 KiB sent %d and closed with %d, want all and no close", published, len(seqs), code)
	}
}

// published_ is a publish's reply, or a subscribe's.
type published_ struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// readUntilClose reads the messages of a resume and returns their seqs and
// the close code that followed, or 0 once the resume went live: a ping
// answered (the messages of a resume come before it).
func readUntilClose(t *testing.T, c *wsClient, first bool) ([]uint64, ws.StatusCode) {
	t.Helper()
	var seqs []uint64
	c.send(`{"type":"ping","id":"p"}`)
	for {
		raw, err := c.next()
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			return seqs, closed.Code
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			Type string
			Seq  uint64
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case "message":
			seqs = append(seqs, m.Seq)
		case "pong":
			return seqs, 0
		default:
			t.Fatalf("unexpected %s", raw)
		}
	}
}

// redisOutput is how many bytes Redis has sent its clients.
func redisOutput(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	info, err := admin.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no total_net_output_bytes in INFO")
	return 0
}

// An SSE stream's Last-Event-ID resumes up to 32 topics in one request:
// they share one resume's budget, so that the request costs Redis no more
// than a subscribe with since. Cut, the stream sends what it read and
// closes with 4000, and the last event's id resumes every topic from
// there, none skipped.
func TestStreamResumeSharesOneBudget(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	n := sseNode(t, api.Config{}, redisEngine(t, srv.URL()), 0, 0)
	const perTopic, dataBytes, budget = 20, 30 << 10, 960 << 10
	topics := []string{"big.a", "big.b", "big.c", "big.d"}
	path := "/sse?topic=" + strings.Join(topics, "&topic=")
	s := mustOpenSSE(t, n.Base, path)
	_, lastID := s.subscribed(t)
	s.close()
	pad := strings.Repeat("x", dataBytes)
	for _, topic := range topics {
		for i := range perTopic {
			postPublish(t, n.Base, fmt.Sprintf(`{"topic":%q,"data":"%d %s"}`, topic, i+1, pad))
		}
	}

	got := map[string]uint64{}
	total, closes := 0, 0
	for total < perTopic*len(topics) && closes <= total {
		before := redisOutput(t, admin)
		s := mustOpenSSE(t, n.Base, path, "Last-Event-ID", lastID)
		s.subscribed(t)
		var code int
		for total < perTopic*len(topics) {
			ev := s.event(t)
			if ev.event == "close" {
				var c struct{ Code int }
				json.Unmarshal([]byte(ev.data), &c)
				code = c.Code
				break
			}
			var m streamMessage
			if ev.event != "" || json.Unmarshal([]byte(ev.data), &m) != nil || m.Seq != got[m.Topic]+1 {
				t.Fatalf("event %+v after %v, want the next message of its topic", ev, got)
			}
			got[m.Topic] = m.Seq
			total++
			lastID = ev.id
		}
		if sent := redisOutput(t, admin) - before; sent > budget+len(topics)*2*dataBytes {
			t.Fatalf("a stream's resume took %d bytes out of Redis, want at most the budget of %d and a message a topic", sent, budget)
		}
		s.close()
		if code != 0 && code != 4000 {
			t.Fatalf("stream closed with %d, want 4000", code)
		}
		if code == 4000 {
			closes++
		}
	}
	if total != perTopic*len(topics) || closes == 0 {
		t.Fatalf("resumed %d of %d messages in %d closes; want all, and the first resume cut", total, perTopic*len(topics), closes)
	}
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// outage has a Redis setup cut the master of a topic off from its
// replica (cut), so that what it acknowledges then is lost with it; kill
// the master, leaving no replica able to take over yet (kill); then let
// the replica take over and wait until it has (end).
type outage struct {
	cut, kill, end func()
}

// streamsAcrossAnOutage publishes to topic on a without pause while the
// topic's master acknowledges publishes its replica never gets, dies,
// no master is known for a while, and a replica takes over. The pattern
// subscriptions are made while the replica is cut off (on Cluster, the
// first pattern of the cluster creates the lease that has publishes go
// to the classic channel too, section 12 of docs/protocol.md). Subscribers on b, by WebSocket and /sse, by the
// topic and by the pattern room.*, must get every acknowledged publish
// or be told of it (sections 2, 10, 12); meanwhile publishes answer 503
// unavailable and /readyz 503 (sections 3, 12); right after the
// takeover a WebSocket client resumes with since, and an /sse client
// with Last-Event-ID, on b from where they left a: recovered:true only
// if everything acknowledged after their position comes.
func streamsAcrossAnOutage(t *testing.T, a, b *process, topic string, o outage) {
	wsExact := wsOpen(t, b.ws+"?mode=ok&user=we", dialOpts{})
	wsExact.subscribe("s", topic)
	sseExact := openStream(t, b.base+"/sse?mode=ok&user=se&topic="+topic, nil)
	leaver := wsOpen(t, a.ws+"?mode=ok&user=wl", dialOpts{})
	leaver.subscribe("s", topic)
	sseLeaver := openStream(t, a.base+"/sse?mode=ok&user=sl&topic="+topic, nil)

	pub := startPublisher(t, &a.node, topic)
	pub.waitAcked(t, 0, 20)
	left := watchWS(t, leaver, 10)
	leaver.clientClose()
	leftSSE := watchSSE(t, sseLeaver, 10)
	sseLeaver.cancel()
	since, sinceSSE := left[len(left)-1], leftSSE[len(leftSSE)-1]

	o.cut()
	wsPat := wsOpen(t, b.ws+"?mode=ok&user=wp", dialOpts{})
	wsPat.subscribe("s", "room.*")
	ssePat := openStream(t, b.base+"/sse?mode=ok&user=sp&topic=room.*", nil)
	patFrom := pub.acked() + 2 // past the publish that may have been on its way
	pub.waitAcked(t, patFrom, 10)
	o.kill()
	for _, n := range []*process{a, b} {
		eventually(t, "a publish on "+n.base+" answered 503 unavailable without a master", func() bool {
			code, body := rawPost(t, &n.node, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":"x"}`, topic))
			if code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Errorf("a publish without a master: %d %s", code, body)
			}
			return code == http.StatusServiceUnavailable && errorCode([]byte(body)) == "unavailable"
		})
		eventually(t, "/readyz on "+n.base+" answered 503 without a master", func() bool {
			return status(t, n.base+"/readyz") == http.StatusServiceUnavailable
		})
		answersWithoutAMaster(t, n, topic)
	}
	o.end()
	tookOver := time.Now()
	ackedBefore := pub.acked()
	for _, n := range []*process{a, b} {
		readyAgain(t, n, tookOver)
	}

	// Right after the takeover, on the other node.
	resumed := wsOpen(t, b.ws+"?mode=ok&user=wr", dialOpts{})
	var r frame
	eventually(t, "a resume right after the takeover", func() bool {
		resumed.send(`{"type":"subscribe","id":"r","topic":%q,"since":{"epoch":%q,"seq":%d}}`, topic, since.epoch, since.seq)
		r = resumed.reply("r")
		return r.Type == "subscribed"
	})
	var sseResumed *sseStream
	eventually(t, "an /sse resume right after the takeover", func() bool {
		s, resp, _ := sseOpen(t, b.base+"/sse?mode=ok&user=sr&topic="+topic, http.Header{"Last-Event-ID": {sinceSSE.id}})
		if s == nil && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("an /sse resume after the takeover: %d", resp.StatusCode)
		}
		sseResumed = s
		return s != nil
	})
	head := sseResumed.next()
	t.Logf("resumed %v after the takeover: %s; /sse: %s", time.Since(tookOver).Round(time.Millisecond), r.text, head.data)
	entries, _ := head.dataObj()["topics"].([]any)
	if head.event != "subscribed" || len(entries) != 1 {
		t.Fatalf("the resumed stream's first event: %+v", head)
	}
	sseRecovered, _ := entries[0].(map[string]any)["recovered"].(bool)

	// A client that got messages of the new epoch on a resumes on b: it
	// lost nothing, so it is answered recovered:true and sent all since.
	fresh := wsOpen(t, a.ws+"?mode=ok&user=wf", dialOpts{})
	fresh.subscribe("s", topic)
	freshGot := watchWS(t, fresh, pub.acked()+5)
	fresh.clientClose()
	at := freshGot[len(freshGot)-1]
	again := wsOpen(t, b.ws+"?mode=ok&user=wa", dialOpts{})
	again.send(`{"type":"subscribe","id":"r","topic":%q,"since":{"epoch":%q,"seq":%d}}`, topic, at.epoch, at.seq)
	if r := again.reply("r"); r.Type != "subscribed" || r.Recovered == nil || !*r.Recovered || r.Epoch != at.epoch {
		t.Errorf("a resume on b from seq %d of the new epoch %s, got on a: %s, want recovered:true", at.seq, at.epoch, r.text)
	}

	pub.waitAcked(t, pub.acked(), 20) // live, after the resumes
	acks := pub.halt()
	pub.oddAnswers(t)
	last := acks[len(acks)-1].i
	watched := map[string][]seen{"WebSocket, before the outage": left, "/sse, before the outage": leftSSE}
	for what, c := range map[string]*client{"WebSocket, exact": wsExact, "WebSocket, room.*": wsPat, "WebSocket, resumed": resumed,
		"WebSocket, resumed in the new epoch": again} {
		watched[what] = watchWS(t, c, last)
	}
	for what, s := range map[string]*sseStream{"/sse, exact": sseExact, "/sse, room.*": ssePat, "/sse, resumed": sseResumed} {
		watched[what] = watchSSE(t, s, last)
	}
	for what, from := range map[string]int{"WebSocket, exact": 1, "/sse, exact": 1, "WebSocket, before the outage": 1,
		"/sse, before the outage": 1, "WebSocket, room.*": patFrom, "/sse, room.*": patFrom,
		"WebSocket, resumed in the new epoch": at.i + 1} {
		checkSeen(t, what, acks, watched[what], from)
	}
	oneMessagePerSeq(t, watched)
	for what, got := range watched {
		epochs, gaps := map[string]bool{}, 0
		for _, s := range got {
			epochs[s.epoch] = true
			if s.gap {
				gaps++
			}
		}
		t.Logf("%s: %d events, %d gaps, %d epochs: %s", what, len(got), gaps, len(epochs), runs(got))
	}
	// The live part of a resume misses nothing either; one that said
	// recovered:true had everything acknowledged after its position.
	for _, c := range []struct {
		what      string
		recovered bool
		since     seen
		seq       uint64 // the topic's seq the resume answered
	}{
		{"WebSocket, resumed", r.Recovered != nil && *r.Recovered, since, r.Seq},
		{"/sse, resumed", sseRecovered, sinceSSE, uint64(entries[0].(map[string]any)["seq"].(float64))},
	} {
		got := watched[c.what]
		checkSeen(t, c.what, acks, got, liveFrom(acks, c.seq))
		if c.recovered {
			came := map[string]bool{}
			for _, s := range got {
				came[s.msg] = true
			}
			for _, a := range acks[:ackedBefore] {
				if a.i > c.since.i && !came[a.msg] {
					t.Errorf("%s said recovered:true but publish %d (seq %d, acknowledged) never came", c.what, a.i, a.seq)
				}
			}
		}
	}
}

// liveFrom is the index of the first publish acknowledged in the last
// epoch (after the last fall of seq) past seq: where a resume answered
// with seq goes live.
func liveFrom(acks []ack, seq uint64) int {
	k := 0
	for j := 1; j < len(acks); j++ {
		if acks[j].seq <= acks[j-1].seq {
			k = j
		}
	}
	for ; k < len(acks) && acks[k].seq <= seq; k++ {
	}
	if k == len(acks) {
		return acks[len(acks)-1].i + 1
	}
	return acks[k].i
}

// readyAgain waits for n's /readyz to answer 200, failing 30 s after
// since (section 12: nodes reconnect by themselves).
func readyAgain(t *testing.T, n *process, since time.Time) {
	t.Helper()
	for status(t, n.base+"/readyz") != http.StatusOK {
		if time.Since(since) > 30*time.Second {
			t.Fatalf("%s not ready 30 s after the takeover", n.base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answersWithoutAMaster: what needs the topic's master answers
// unavailable (503 over HTTP) or as usual while there is none, never
// internal (sections 2, 3, 8, 10).
func answersWithoutAMaster(t *testing.T, n *process, topic string) {
	for _, path := range []string{"/healthz", "/api/stats", "/api/topics"} {
		if code, _, body := httpDo(t, http.MethodGet, n.base+path, nil, ""); code != http.StatusOK {
			t.Errorf("GET %s without a master: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/api/history?topic=" + topic, "/api/presence?topic=" + topic, "/sse?mode=ok&user=x&topic=" + topic} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.base+path, nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Errorf("GET %s without a master: %v", path, err)
			cancel()
			continue
		}
		var body []byte
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(path, "/sse") {
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "unavailable") {
			t.Errorf("GET %s without a master: %d %s", path, resp.StatusCode, body)
		}
	}
	c := wsOpen(t, n.ws+"?mode=ok&user=x", dialOpts{})
	for id, cmd := range []string{`{"type":"subscribe","id":"0","topic":%q,"presence":true}`, `{"type":"presence","id":"1","topic":%q}`} {
		if m := c.cmd(fmt.Sprint(id), cmd, topic); m["type"] == "error" && m["code"] != "unavailable" {
			t.Errorf("%s without a master: %v", fmt.Sprintf(cmd, topic), m)
		}
	}
}

// openStream opens an /sse stream and reads its subscribed event.
func openStream(t *testing.T, url string, header http.Header) *sseStream {
	t.Helper()
	s, resp, body := sseOpen(t, url, header)
	if s == nil {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ev := s.next(); ev.event != "subscribed" {
		t.Fatalf("GET %s: first event %+v", url, ev)
	}
	return s
}

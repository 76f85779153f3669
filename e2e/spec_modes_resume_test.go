package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The checks of spec_modes_contract_test.go on resuming and compression:
// sections 2, 10 and 13 with the client moving from one node to the
// other, over topics that on a Cluster live on three masters.

// resumesOnTheOtherNode: a WebSocket client publishes on b, leaves, and
// resumes on a with since: recovered:true and exactly what it missed,
// from a message's position and from the position a subscribe to a new
// topic answered; from an epoch that is not the topic's, recovered:false
// and nothing of the old epoch. An /sse stream of b over three topics and
// a pattern resumes on a from its last event's id alone (section 10).
func resumesOnTheOtherNode(t *testing.T, a, b *process, spread func(string) []string) {
	ts := spread("r.")
	tok := anyToken(t, "r")
	c := wsOpen(t, b.ws+"?token="+tok, dialOpts{})
	epochs := map[string]string{}
	for _, topic := range ts {
		r := c.subscribe("s", topic)
		if r.Seq != 0 || r.Epoch == "" {
			t.Fatalf("subscribe to the new topic %s: %s", topic, r.text)
		}
		epochs[topic] = r.Epoch
	}
	for _, topic := range ts {
		for i := range 2 {
			c.send(`{"type":"publish","id":"p","topic":%q,"data":%d}`, topic, i+1)
		}
	}
	for range 12 { // six replies, six messages
		f := c.next()
		if f.Type == "message" && f.Epoch != epochs[f.Topic] {
			t.Errorf("%s: epoch %s, the subscribe to the new topic said %s", f.text, f.Epoch, epochs[f.Topic])
		} else if f.Type != "message" && f.Type != "published" {
			t.Fatalf("publishing on b: %s", f.text)
		}
	}
	c.clientClose()
	for _, topic := range ts {
		publish(t, &b.node, topic, `3`)
		publish(t, &b.node, topic, `4`)
	}

	r := wsOpen(t, a.ws+"?token="+tok, dialOpts{})
	for i, tc := range []struct {
		epoch     string
		since     uint64
		recovered bool
		resent    []uint64
	}{
		{epochs[ts[0]], 2, true, []uint64{3, 4}},
		{epochs[ts[1]], 0, true, []uint64{1, 2, 3, 4}}, // from the subscribe to the new topic
		{"not-its-epoch", 1, false, nil},
	} {
		r.send(`{"type":"subscribe","id":"r","topic":%q,"since":{"epoch":%q,"seq":%d}}`, ts[i], tc.epoch, tc.since)
		if f := r.next(); f.Type != "subscribed" || f.Recovered == nil || *f.Recovered != tc.recovered || f.Seq != 4 || f.Epoch != epochs[ts[i]] {
			t.Errorf("resume of %s from %s %d on a: %s, want recovered:%v, seq 4, epoch %s", ts[i], tc.epoch, tc.since, f.text, tc.recovered, epochs[ts[i]])
		}
		for _, seq := range tc.resent {
			if f := r.next(); f.Type != "message" || f.Topic != ts[i] || f.Seq != seq || f.Epoch != epochs[ts[i]] {
				t.Errorf("resume of %s from %d: %s, want message %d", ts[i], tc.since, f.text, seq)
			}
		}
	}
	for _, topic := range ts {
		publish(t, &b.node, topic, `5`)
	}
	live := receive(t, "the resumed client", r, 3)
	for _, f := range live {
		if f.Seq != 5 {
			t.Errorf("live after the resumes: %s, want seq 5", f.text)
		}
	}
	r.quiet("the resumed client after the live messages")

	sseResume(t, a, b, spread("e."), tok)
}

// sseResume: a stream of b over topics, e.none (no message before the
// stream ends) and f.*, resumed on a.
func sseResume(t *testing.T, a, b *process, topics []string, tok string) {
	query := "token=" + tok + "&topic=" + strings.Join(topics, "&topic=") + "&topic=e.none&topic=f.*"
	s := openStream(t, b.base+"/sse?"+query, nil)
	publishEach := func(n *process, data string, more ...string) {
		for _, topic := range append(append(topics, "f.x"), more...) {
			publish(t, &n.node, topic, data)
		}
	}
	publishEach(a, `1`)
	var last sseEvent
	for range 4 {
		last = s.next()
	}
	s.cancel()
	publishEach(a, `2`, "e.none")
	publishEach(a, `3`, "e.none")

	for _, resume := range []struct {
		how    string
		query  string
		header http.Header
	}{
		{"Last-Event-ID", query, http.Header{"Last-Event-ID": {last.id}}},
		{"last_event_id", query + "&last_event_id=" + last.id, nil},
	} {
		r, resp, body := sseOpen(t, a.base+"/sse?"+resume.query, resume.header)
		if r == nil {
			t.Fatalf("%s on a: %d %s", resume.how, resp.StatusCode, body)
		}
		head := r.next()
		entries, _ := head.dataObj()["topics"].([]any)
		if head.event != "subscribed" || len(entries) != 5 {
			t.Fatalf("%s on a: first event %+v", resume.how, head)
		}
		for i, e := range entries {
			e, _ := e.(map[string]any)
			switch {
			case i == 4:
				jsonEq(t, resume.how+": the pattern's entry", e, `{"topic":"f.*"}`)
			case i == 3 && (e["topic"] != "e.none" || e["recovered"] != true || e["seq"] != 2.0 || e["epoch"] == nil):
				t.Errorf("%s on a: entry %v, want e.none recovered at seq 2", resume.how, e)
			case i < 3 && (e["topic"] != topics[i] || e["recovered"] != true || e["seq"] != 3.0 || e["epoch"] == nil):
				t.Errorf("%s on a: entry %v, want %s recovered at seq 3", resume.how, e, topics[i])
			}
		}
		got := map[string][]float64{}
		for range 8 {
			m := r.next().dataObj()
			topic, _ := m["topic"].(string)
			got[topic] = append(got[topic], m["seq"].(float64))
		}
		want := map[string][]float64{topics[0]: {2, 3}, topics[1]: {2, 3}, topics[2]: {2, 3}, "e.none": {1, 2}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s on a resent %v, want %v (a pattern's messages are not resent)", resume.how, got, want)
		}
		r.cancel()
	}
}

// compressionAcrossNodes: a client of a that offered permessage-deflate
// gets a message published on b compressed when its JSON text is 256
// bytes or more, as a plain client of a gets it (section 13).
func compressionAcrossNodes(t *testing.T, a, b *process) {
	tok := anyToken(t, "z")
	d, plain := wsOpen(t, a.ws+"?token="+tok, dialOpts{deflate: true}), wsOpen(t, a.ws+"?token="+tok, dialOpts{})
	if !strings.Contains(d.extensions, "permessage-deflate") || !strings.Contains(d.extensions, "server_no_context_takeover") {
		t.Fatalf("the 101 accepted %q", d.extensions)
	}
	d.subscribe("s", "z.big")
	plain.subscribe("s", "z.big")
	publish(t, &b.node, "z.big", `{"text":"`+strings.Repeat("compress me ", 50)+`"}`)
	publish(t, &b.node, "z.big", `"small"`)
	for i, compressed := range []bool{true, false} {
		f, p := d.next(), plain.next()
		if f.rsv1 != compressed || p.rsv1 || string(f.text) != string(p.text) || f.Seq != uint64(i+1) {
			t.Errorf("message %d: %s (compressed %v) to the deflate client, %s to the plain one, want compressed %v", i+1, f.text, f.rsv1, p.text, compressed)
		}
	}
}

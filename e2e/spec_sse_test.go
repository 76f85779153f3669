package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tests of section 10 (Server-Sent Events) of the wire protocol, against
// herald processes.

func sseURL(n *process, query string) string { return n.base + "/sse?" + query }

func TestSpecSSE(t *testing.T) {
	t.Parallel()
	// open: no token needed, any origin; heartbeat short for the ping.
	open := startProcess(t, "open", "HERALD_HEARTBEAT=1s", "HERALD_HISTORY_SIZE=3")
	authed := startProcess(t, "authed", "HERALD_JWT_SECRET="+specSecret, "HERALD_ALLOWED_ORIGINS=https://ok.example")
	allowAll := specToken(t, jwt.MapClaims{"sub": "u", "allow": map[string][]string{"subscribe": {">"}}})

	t.Run("refusals", func(t *testing.T) {
		many := ""
		for i := range 33 {
			many += fmt.Sprintf("topic=t.%d&", i)
		}
		only := specToken(t, jwt.MapClaims{"sub": "u", "allow": map[string][]string{"subscribe": {"chat.*"}}})
		for _, tc := range []struct {
			name, query string
			header      http.Header
			status      int
			code        string
			topic       string // the one refused, named in the error
		}{
			{"no token", "topic=chat.a", nil, 401, "unauthorized", ""},
			{"bad token", "topic=chat.a&token=not.a.jwt", nil, 401, "unauthorized", ""},
			{"bad bearer", "topic=chat.a", http.Header{"Authorization": {"Bearer x.y.z"}}, 401, "unauthorized", ""},
			{"topic not allowed", "topic=chat.a&topic=news.a&token=" + only, nil, 403, "forbidden", "news.a"},
			{"pattern wider than allowed", "topic=>&token=" + only, nil, 403, "forbidden", ">"},
			{"info over 1 KiB", "topic=chat.a&token=" + specToken(t, jwt.MapClaims{"sub": "u", "info": map[string]string{"n": strings.Repeat("x", 1100)}}), nil, 401, "unauthorized", ""},
			{"token without allow", "topic=chat.a&token=" + specToken(t, jwt.MapClaims{"sub": "u"}), nil, 403, "forbidden", "chat.a"},
			{"origin not allowed", "topic=chat.a&token=" + only, http.Header{"Origin": {"https://evil.example"}}, 403, "forbidden", ""},
			{"no topic", "token=" + only, nil, 400, "bad_request", ""},
			{"33 topics", many + "token=" + allowAll, nil, 400, "bad_request", ""},
			{"malformed topic", "topic=chat..a&token=" + only, nil, 400, "invalid_topic", "chat..a"},
			{"malformed pattern", "topic=chat.>.a&token=" + only, nil, 400, "invalid_topic", "chat.>.a"},
		} {
			s, resp, body := sseOpen(t, sseURL(authed, tc.query), tc.header)
			if s != nil {
				t.Errorf("%s: stream opened", tc.name)
				continue
			}
			if resp.StatusCode != tc.status || errorCode(body) != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: %d %s %q, want %d %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code)
			}
			var named struct {
				Error struct{ Topic string } `json:"error"`
			}
			if err := json.Unmarshal(body, &named); err != nil || named.Error.Topic != tc.topic {
				t.Errorf("%s: %s names topic %q, want %q", tc.name, body, named.Error.Topic, tc.topic)
			}
		}
		// The no-topic check also holds without a token.
		if _, resp, body := sseOpen(t, sseURL(open, ""), nil); resp.StatusCode != 400 || errorCode(body) != "bad_request" {
			t.Errorf("no topic: %d %s", resp.StatusCode, body)
		}
		many32 := ""
		for i := range 32 {
			many32 += fmt.Sprintf("topic=t.%d&", i)
		}
		if s, resp, body := sseOpen(t, sseURL(authed, many32+"token="+allowAll), nil); s == nil {
			t.Errorf("32 topics: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("headers, authentication and CORS", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			n      *process
			query  string
			header http.Header
		}{
			{"token in the query, allowed origin", authed, "topic=h.a&token=" + allowAll, http.Header{"Origin": {"https://ok.example"}}},
			{"token in Authorization", authed, "topic=h.a", http.Header{"Authorization": {"Bearer " + allowAll}, "Origin": {"https://ok.example"}}},
			{"any origin while the list is empty", open, "topic=h.a", http.Header{"Origin": {"https://any.example"}}},
		} {
			s, resp, body := sseOpen(t, sseURL(tc.n, tc.query), tc.header)
			if s == nil {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("%s: Content-Type %q", tc.name, ct)
			}
			if got, want := resp.Header.Get("Access-Control-Allow-Origin"), tc.header.Get("Origin"); got != want {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", tc.name, got, want)
			}
			if ev := s.next(); ev.event != "subscribed" {
				t.Errorf("%s: first event %+v", tc.name, ev)
			}
		}
	})

	t.Run("events are the WebSocket messages", func(t *testing.T) {
		publish(t, &open.node, "ev.a", `{"n":0}`)
		wsExact := wsOpen(t, open.ws, dialOpts{})
		wsExact.cmd("1", `{"type":"subscribe","id":"1","topic":"ev.a"}`)
		wsPattern := wsOpen(t, open.ws, dialOpts{})
		wsPattern.cmd("1", `{"type":"subscribe","id":"1","topic":"ev.*"}`)
		s, _, _ := sseOpen(t, sseURL(open, "topic=ev.a&topic=ev.*&topic=other"), nil)
		first := s.next()
		if first.event != "subscribed" || first.id == "" {
			t.Fatalf("first event %+v, want subscribed with an id", first)
		}
		sub := first.dataObj()
		topics, _ := sub["topics"].([]any)
		if len(topics) != 3 {
			t.Fatalf("subscribed %s", first.data)
		}
		if e := topics[0].(map[string]any); keys(e) != "epoch,seq,topic" || e["topic"] != "ev.a" || e["seq"] != 1.0 || e["epoch"] == "" {
			t.Errorf("subscribed entry of ev.a: %v", e)
		}
		jsonEq(t, "subscribed entry of a pattern", topics[1], `{"topic":"ev.*"}`)
		if e := topics[2].(map[string]any); keys(e) != "epoch,seq,topic" || e["seq"] != 0.0 {
			t.Errorf("subscribed entry of a topic without messages: %v", e)
		}

		publish(t, &open.node, "ev.a", "{\"n\":1,\n\"text\":\"a line break in the whitespace\"}")
		publish(t, &open.node, "ev.b", `[1,2]`)
		exact, byPattern, other := wsExact.next(), wsPattern.next(), wsPattern.next()
		ids := map[string]bool{first.id: true}
		for i, want := range [][]string{{string(exact.text), string(byPattern.text)}, {string(other.text)}} {
			ev := s.next()
			if ev.event != "" || ev.id == "" || ids[ev.id] {
				t.Errorf("event %d: event %q id %q (ids so far %v)", i, ev.event, ev.id, ids)
			}
			ids[ev.id] = true
			if ev.data != want[0] && (len(want) == 1 || ev.data != want[1]) {
				t.Errorf("event %d data:\n%s\nwant the WebSocket text, one of:\n%s", i, ev.data, strings.Join(want, "\n"))
			}
		}
		select {
		case <-s.sawCR:
			t.Error("a line of the stream ends with CR")
		default:
		}
	})

	t.Run("ping", func(t *testing.T) {
		s, _, _ := sseOpen(t, sseURL(open, "topic=ping.a"), nil)
		deadline := time.After(wait)
		for {
			select {
			case ev := <-s.events:
				if ev.comment == "" {
					continue
				}
				if ev.comment != " ping" {
					t.Errorf("comment %q, want \": ping\"", ev.comment)
				}
				return
			case <-deadline:
				t.Fatal("no ping comment within a few heartbeats")
			}
		}
	})

	t.Run("resume", func(t *testing.T) {
		publish(t, &open.node, "res.one", `1`)
		s, _, _ := sseOpen(t, sseURL(open, "topic=res.one&topic=res.two&topic=res.*"), nil)
		subscribedID := s.next().id
		publish(t, &open.node, "res.two", `1`)
		publish(t, &open.node, "res.one", `2`)
		var last sseEvent
		for range 2 { // each once, though res.* matches it too
			last = s.next()
		}
		s.cancel()
		publish(t, &open.node, "res.one", `3`)
		publish(t, &open.node, "res.two", `2`)

		recovered := map[string]bool{"res.one": true, "res.two": true}
		check := func(name string, r *sseStream, want map[string][]uint64, seqs map[string]float64) {
			t.Helper()
			ev := r.next()
			if ev.event != "subscribed" {
				t.Fatalf("%s: first event %+v", name, ev)
			}
			for _, e := range ev.dataObj()["topics"].([]any) {
				e := e.(map[string]any)
				topic := e["topic"].(string)
				if topic == "res.*" {
					jsonEq(t, name+" pattern entry", e, `{"topic":"res.*"}`)
					continue
				}
				if e["recovered"] != recovered[topic] || e["seq"] != seqs[topic] {
					t.Errorf("%s: entry %v, want recovered %v, seq %v", name, e, recovered[topic], seqs[topic])
				}
			}
			got := map[string][]uint64{}
			n := 0
			for _, seqs := range want {
				n += len(seqs)
			}
			for range n {
				m := r.next().dataObj()
				got[m["topic"].(string)] = append(got[m["topic"].(string)], uint64(m["seq"].(float64)))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: resent %v, want %v", name, got, want)
			}
		}
		seqs := map[string]float64{"res.one": 3, "res.two": 2}
		r, _, _ := sseOpen(t, sseURL(open, "topic=res.one&topic=res.two&topic=res.*"), http.Header{"Last-Event-ID": {last.id}})
		check("Last-Event-ID header", r, map[string][]uint64{"res.one": {3}, "res.two": {2}}, seqs)
		r, _, _ = sseOpen(t, sseURL(open, "topic=res.one&topic=res.two&topic=res.*&last_event_id="+last.id), nil)
		check("last_event_id query", r, map[string][]uint64{"res.one": {3}, "res.two": {2}}, seqs)
		r, _, _ = sseOpen(t, sseURL(open, "topic=res.one&topic=res.two&topic=res.*"), http.Header{"Last-Event-ID": {subscribedID}})
		check("the subscribed event's id", r, map[string][]uint64{"res.one": {2, 3}, "res.two": {1, 2}}, seqs)
		// History keeps 3 messages: res.one's 3 to 8 are no longer all there.
		for i := 4; i <= 8; i++ {
			publish(t, &open.node, "res.one", strconv.Itoa(i))
		}
		seqs["res.one"], recovered["res.one"] = 8, false
		r, _, _ = sseOpen(t, sseURL(open, "topic=res.one&topic=res.two&topic=res.*"), http.Header{"Last-Event-ID": {last.id}})
		check("history lost", r, map[string][]uint64{"res.one": {6, 7, 8}, "res.two": {2}}, seqs)
	})

	t.Run("resume from a message a pattern brought", func(t *testing.T) {
		s, _, _ := sseOpen(t, sseURL(open, "topic=rp.exact&topic=rq.*"), nil)
		s.next()
		publish(t, &open.node, "rp.exact", `1`)
		publish(t, &open.node, "rq.x", `1`)
		s.next()
		last := s.next()
		if last.dataObj()["pattern"] != "rq.*" {
			t.Fatalf("second event %+v, want rq.x by the pattern", last)
		}
		s.cancel()
		publish(t, &open.node, "rp.exact", `2`)
		r, _, _ := sseOpen(t, sseURL(open, "topic=rp.exact&topic=rq.*&last_event_id="+last.id), nil)
		ev := r.next()
		jsonEq(t, "subscribed", ev.dataObj()["topics"].([]any)[1], `{"topic":"rq.*"}`)
		if e := ev.dataObj()["topics"].([]any)[0].(map[string]any); e["recovered"] != true || e["seq"] != 2.0 {
			t.Errorf("rp.exact resumed from an id a pattern's message gave: %v", e)
		}
		if m := r.next().dataObj(); m["topic"] != "rp.exact" || m["seq"] != 2.0 {
			t.Errorf("after the resume: %v, want rp.exact 2", m)
		}
	})

	t.Run("token expiry ends the stream with close 4001", func(t *testing.T) {
		tok := specToken(t, jwt.MapClaims{"sub": "u", "allow": map[string][]string{"subscribe": {">"}}, "exp": time.Now().Add(2 * time.Second).Unix()})
		s, resp, body := sseOpen(t, sseURL(authed, "topic=exp.a&token="+tok), nil)
		if s == nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if ev := s.untilEnd(); ev.event != "close" || ev.data != `{"code":4001}` {
			t.Errorf("last event %+v, want close 4001", ev)
		}
	})

	t.Run("shutdown ends the stream with close 1001", func(t *testing.T) {
		s, _, _ := sseOpen(t, sseURL(open, "topic=bye"), nil)
		s.next()
		open.cmd.Process.Signal(syscall.SIGTERM)
		if ev := s.untilEnd(); ev.event != "close" || ev.data != `{"code":1001}` {
			t.Errorf("last event %+v, want close 1001", ev)
		}
	})
}

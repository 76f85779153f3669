package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The checks of spec_modes_contract_test.go that compare a node on Redis
// with one node alone, in memory: errors, and history's bounds.

// answersAsOnOneNode: bad input is answered in mode (a node on Redis) as
// one node alone answers it (sections 2, 3, 8, 9, 10), with the code the
// contract names where it names one; and what a topic nobody published
// to answers has the same shape.
func answersAsOnOneNode(t *testing.T, mode, one *process) {
	big := strings.Repeat("x", 70000)
	long := strings.Repeat("t", 256)
	for _, tc := range []struct {
		method, path, body string
		code               string // "" where the contract leaves the code open
	}{
		{"POST", "/api/publish", `{"topic":"a..b","data":1}`, "invalid_topic"},
		{"POST", "/api/publish", `{"topic":"a.*","data":1}`, "invalid_topic"},
		{"POST", "/api/publish", `{"topic":">","data":1}`, "invalid_topic"},
		{"POST", "/api/publish", `{"topic":"` + long + `","data":1}`, "invalid_topic"},
		{"POST", "/api/publish", `not json`, "bad_request"},
		{"POST", "/api/publish", `{"topic":"x"}`, ""},
		{"POST", "/api/publish", `{"topic":"x","data":"` + big + `"}`, "message_too_large"},
		{"POST", "/api/broadcast", `{"topics":["bad.one","a..b"],"data":1}`, "invalid_topic"},
		{"POST", "/api/broadcast", `{"topics":[],"data":1}`, ""},
		{"POST", "/api/batch", `{"messages":[{"topic":"bad.two","data":1},{"topic":"b.*","data":1}]}`, "invalid_topic"},
		{"POST", "/api/batch", `{"messages":[{"topic":"bad.three","data":1},{"topic":"bad.three"}]}`, ""},
		{"GET", "/api/history?topic=a.*", "", "invalid_topic"},
		{"GET", "/api/history", "", ""},
		{"GET", "/api/history?topic=h&since=x", "", ""},
		{"GET", "/api/presence?topic=room.*", "", "invalid_topic"},
		{"GET", "/api/presence?topic=chat.x", "", "presence_off"},
		{"POST", "/api/subscribe", `{"user":"x","session":"y","topic":"t"}`, "bad_request"},
		{"POST", "/api/unsubscribe", `{"user":"x","topic":"a..b"}`, "invalid_topic"},
		{"GET", "/api/publish", "", "method_not_allowed"},
		{"GET", "/sse?topic=a..b&token=" + anyToken(t, "s"), "", "invalid_topic"},
		{"GET", "/sse?token=" + anyToken(t, "s"), "", "bad_request"},
		{"GET", "/api/history?topic=never.h", "", "-"}, // answered, not an error
		{"GET", "/api/presence?topic=room.never", "", "-"},
	} {
		what := fmt.Sprintf("%s %.80s %.80s", tc.method, tc.path, tc.body)
		got, want := answerShape(t, mode, tc.method, tc.path, tc.body), answerShape(t, one, tc.method, tc.path, tc.body)
		if got != want {
			t.Errorf("%s: %s in this mode, %s on one node", what, got, want)
		}
		if tc.code != "" && tc.code != "-" && !strings.HasSuffix(got, " "+tc.code) {
			t.Errorf("%s: %s, want the error %s", what, got, tc.code)
		}
	}
	// A broadcast or batch refused published none of its entries anywhere.
	for _, topic := range []string{"bad.one", "bad.two", "bad.three"} {
		if got, want := answerShape(t, mode, "GET", "/api/history?topic="+topic, ""), answerShape(t, one, "GET", "/api/history?topic="+topic, ""); got != want {
			t.Errorf("the history of %s after a refused request: %s in this mode, %s on one node", topic, got, want)
		}
	}

	// The same commands over WebSocket, a ping after each so that the
	// errors never make ten in a row (section 2).
	tok := personToken(t, "eve", nil) // subscribe room.* and chat.*, publish room.*
	cm, co := wsOpen(t, mode.ws+"?token="+tok, dialOpts{}), wsOpen(t, one.ws+"?token="+tok, dialOpts{})
	for _, tc := range []struct{ cmd, code string }{
		{`{"type":"subscribe","id":"1","topic":"chat.*","since":{"epoch":"e","seq":1}}`, "bad_request"},
		{`{"type":"subscribe","id":"1","topic":"room.9","since":{"epoch":"e","seq":"x"}}`, "bad_request"},
		{`{"type":"subscribe","id":"1","topic":"chat..x"}`, "invalid_topic"},
		{`{"type":"subscribe","id":"1","topic":"news.x"}`, "forbidden"},
		{`{"type":"subscribe","id":"1","topic":"room.>"}`, "forbidden"}, // room.a.b is not under room.*
		{`{"type":"subscribe","id":"` + strings.Repeat("i", 65) + `","topic":"room.9"}`, "bad_request"},
		{`{"type":"publish","id":"1","topic":"room.*","data":1}`, "invalid_topic"},
		{`{"type":"publish","id":"1","topic":"chat.x","data":1}`, "forbidden"},
		{`{"type":"publish","id":"1","topic":"room.9","data":"` + big + `"}`, "message_too_large"},
		{`{"type":"publish","id":"1","topic":"room.9"}`, "bad_request"},
		{`{"type":"unsubscribe","id":"1","topic":"room.9"}`, "not_subscribed"},
		{`{"type":"presence","id":"1","topic":"chat.x"}`, "presence_off"},
		{`{"type":"presence","id":"1","topic":"room.*"}`, "invalid_topic"},
		{`{"type":"refresh","id":"1","token":"not.a.jwt"}`, "unauthorized"},
		{`{"type":"fly","id":"1"}`, "unknown_type"},
		{`{"type":"subscribe","id":"1","topic":"room.never"}`, "-"},
		{`{"type":"presence","id":"1","topic":"room.never"}`, "-"},
	} {
		got, want := commandShape(t, cm, tc.cmd), commandShape(t, co, tc.cmd)
		if got != want {
			t.Errorf("%.100s: %s in this mode, %s on one node", tc.cmd, got, want)
		}
		if tc.code != "-" && got != "error "+tc.code {
			t.Errorf("%.100s: %s, want the error %s", tc.cmd, got, tc.code)
		}
	}
}

// answerShape is an HTTP answer as status and error code, or for a 200 as
// its fields with the values that do not name an epoch.
func answerShape(t *testing.T, n *process, method, path, body string) string {
	t.Helper()
	code, _, b := httpDo(t, method, n.base+path, http.Header{"Content-Type": {"application/json"}}, body)
	if code != http.StatusOK {
		return fmt.Sprint(code, " ", errorCode(b))
	}
	return fmt.Sprint(code, " ", shape(jsonObject(b)))
}

// commandShape sends cmd, then a ping, and returns the reply as its type
// and error code, or for a success its fields without epoch values.
func commandShape(t *testing.T, c *client, cmd string) string {
	t.Helper()
	c.send("%s", cmd)
	f := c.next()
	if r := c.cmd("ping", `{"type":"ping","id":"ping"}`); r["type"] != "pong" {
		t.Fatalf("ping after %.100s: %v", cmd, r)
	}
	if f.Type == "error" {
		if f.obj()["message"] == "" {
			t.Errorf("%.100s: an error without a message: %s", cmd, f.text)
		}
		return "error " + f.Code
	}
	return shape(f.obj())
}

// shape writes m's fields and their values, but an epoch's.
func shape(m map[string]any) string {
	var fields []string
	for _, k := range strings.Split(keys(m), ",") {
		if k == "epoch" {
			fields = append(fields, k)
			continue
		}
		fields = append(fields, fmt.Sprintf("%s=%s", k, mustJSON(m[k])))
	}
	return "{" + strings.Join(fields, " ") + "}"
}

// historyAsOnOneNode: 110 messages published to a topic, what history
// answers and whether resumes from before and after its start recover
// are as on one node alone (sections 2, 3, 7: 100 messages kept).
func historyAsOnOneNode(t *testing.T, mode, one *process) {
	var msgs []string
	for i := range 110 {
		msgs = append(msgs, fmt.Sprintf(`{"topic":"chat.hist","data":%d}`, i+1))
	}
	for _, n := range []*process{mode, one} {
		if code, body := rawPost(t, &n.node, "/api/batch", `{"messages":[`+strings.Join(msgs, ",")+`]}`); code != http.StatusOK {
			t.Fatalf("batch of 110: %d %.200s", code, body)
		}
	}
	for _, q := range []string{"", "&since=5&limit=3", "&since=0&limit=0", "&since=105", "&since=110", "&since=200", "&limit=1000", "&since=-1", "&limit=-1"} {
		got, want := historyShape(t, mode, q), historyShape(t, one, q)
		if got != want {
			t.Errorf("GET /api/history?topic=chat.hist%s: %s in this mode, %s on one node", q, got, want)
		}
	}
	tok := personToken(t, "h", nil)
	cm, co := wsOpen(t, mode.ws+"?token="+tok, dialOpts{}), wsOpen(t, one.ws+"?token="+tok, dialOpts{})
	for _, since := range []int{0, 5, 9, 10, 11, 109, 110} {
		got, want := resumeShape(t, mode, cm, since), resumeShape(t, one, co, since)
		if got != want {
			t.Errorf("a resume of chat.hist from %d: %s in this mode, %s on one node", since, got, want)
		}
	}
}

// historyShape is GET /api/history of chat.hist with query q, as its
// status and the seqs it answers.
func historyShape(t *testing.T, n *process, q string) string {
	code, _, body := httpDo(t, http.MethodGet, n.base+"/api/history?topic=chat.hist"+q, nil, "")
	var h struct {
		Seq      uint64
		Messages []struct{ Seq uint64 }
	}
	if code != http.StatusOK || json.Unmarshal(body, &h) != nil {
		return fmt.Sprint(code, " ", errorCode(body))
	}
	shape := fmt.Sprintf("seq %d, %d messages", h.Seq, len(h.Messages))
	if len(h.Messages) > 0 {
		shape += fmt.Sprintf(" %d to %d", h.Messages[0].Seq, h.Messages[len(h.Messages)-1].Seq)
	}
	return shape
}

// resumeShape resumes chat.hist on c from since in its epoch on n and
// returns whether it recovered and the seqs it was sent.
func resumeShape(t *testing.T, n *process, c *client, since int) string {
	t.Helper()
	var h struct{ Epoch string }
	getJSON(t, n.base+"/api/history?topic=chat.hist&limit=1", &h)
	c.send(`{"type":"subscribe","id":"r","topic":"chat.hist","since":{"epoch":%q,"seq":%d}}`, h.Epoch, since)
	c.send(`{"type":"ping","id":"end"}`)
	r := c.next()
	shape := fmt.Sprintf("%s recovered %v", r.Type, r.Recovered != nil && *r.Recovered)
	var seqs []uint64
	for f := c.next(); f.ID != "end"; f = c.next() {
		seqs = append(seqs, f.Seq)
	}
	if len(seqs) > 0 {
		shape += fmt.Sprintf(", sent %d to %d (%d)", seqs[0], seqs[len(seqs)-1], len(seqs))
	}
	c.cmd("u", `{"type":"unsubscribe","id":"u","topic":"chat.hist"}`)
	return shape
}

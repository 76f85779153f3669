package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
)

func TestPublish(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	for seq := uint64(1); seq <= 2; seq++ {
		var got published
		n.post(t, "/api/publish", `{"topic":"news","data":{"text":"hi"}}`).wantOK(t, &got)
		if got.Topic != "news" || got.Seq != seq || len(got.Msg) != 36 {
			t.Fatalf("publish %d: %+v", seq, got)
		}
	}
}

func TestPublishIgnoresUnknownFields(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	var got published
	n.post(t, "/api/publish", `{"topic":"news","data":1,"priority":"high","extra":{"a":[1]}}`).wantOK(t, &got)
	if got.Seq != 1 {
		t.Fatalf("%+v", got)
	}
}

func TestPublishIdempotent(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	var first, again, other published
	n.post(t, "/api/publish", `{"topic":"news","data":1,"idempotency_key":"k1"}`).wantOK(t, &first)
	n.post(t, "/api/publish", `{"topic":"news","data":1,"idempotency_key":"k1"}`).wantOK(t, &again)
	n.post(t, "/api/publish", `{"topic":"news","data":1,"idempotency_key":"k2"}`).wantOK(t, &other)
	if again != first {
		t.Fatalf("a repeated key gave %+v, the first gave %+v", again, first)
	}
	if other.Seq != first.Seq+1 {
		t.Fatalf("a new key gave seq %d after %d", other.Seq, first.Seq)
	}
	if h := history(t, n, "news", ""); len(h.Messages) != 2 {
		t.Fatalf("history holds %d messages, want 2", len(h.Messages))
	}
}

func TestPublishBadRequests(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	cases := []struct{ name, body, code string }{
		{"not JSON", `{"topic":`, "bad_request"},
		{"not an object", `[1,2]`, "bad_request"},
		{"empty body", ``, "bad_request"},
		{"trailing garbage", `{"topic":"a","data":1} x`, "bad_request"},
		{"missing topic", `{"data":1}`, "bad_request"},
		{"null topic", `{"topic":null,"data":1}`, "bad_request"},
		{"empty topic", `{"topic":"","data":1}`, "invalid_topic"},
		{"missing data", `{"topic":"a"}`, "bad_request"},
		{"topic not a string", `{"topic":5,"data":1}`, "bad_request"},
		{"key not a string", `{"topic":"a","data":1,"idempotency_key":[]}`, "bad_request"},
		{"invalid topic", `{"topic":"a..b","data":1}`, "invalid_topic"},
		{"pattern as topic", `{"topic":"chat.*","data":1}`, "invalid_topic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.post(t, "/api/publish", tc.body).wantError(t, http.StatusBadRequest, tc.code)
		})
	}
	if h := history(t, n, "a", ""); len(h.Messages) != 0 {
		t.Fatalf("a refused publish left %d messages", len(h.Messages))
	}
}

func TestPublishTooLarge(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	data := `"` + strings.Repeat("x", testMaxMessageBytes) + `"` // two bytes over
	n.post(t, "/api/publish", `{"topic":"a","data":`+data+`}`).wantError(t, http.StatusRequestEntityTooLarge, "message_too_large")

	body := `{"topic":"a","data":1,"pad":"` + strings.Repeat("x", testMaxMessageBytes+64<<10) + `"}`
	msg := n.post(t, "/api/publish", body).wantError(t, http.StatusRequestEntityTooLarge, "message_too_large")
	if !strings.Contains(msg, "request body") {
		t.Fatalf("message %q does not say the body is too long", msg)
	}
	fits := `"` + strings.Repeat("x", testMaxMessageBytes-2) + `"`
	var got published
	n.post(t, "/api/publish", `{"topic":"a","data":`+fits+`}`).wantOK(t, &got)
}

func TestBroadcast(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	n.post(t, "/api/publish", `{"topic":"b","data":0}`).wantOK(t, &published{})
	var got results
	n.post(t, "/api/broadcast", `{"topics":["a","b","c.d"],"data":{"x":1}}`).wantOK(t, &got)
	want := []struct {
		topic string
		seq   uint64
	}{{"a", 1}, {"b", 2}, {"c.d", 1}}
	if len(got.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(got.Results), len(want))
	}
	for i, w := range want {
		if r := got.Results[i]; r.Topic != w.topic || r.Seq != w.seq || r.Msg == "" {
			t.Errorf("result %d: %+v, want %s seq %d", i, r, w.topic, w.seq)
		}
	}
}

func TestBroadcastIdempotent(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	body := `{"topics":["a","b"],"data":1,"idempotency_key":"once"}`
	var first, again results
	n.post(t, "/api/broadcast", body).wantOK(t, &first)
	n.post(t, "/api/broadcast", body).wantOK(t, &again)
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("retried broadcast gave %+v, first %+v", again, first)
	}
	if first.Results[0].Msg == first.Results[1].Msg {
		t.Fatal("two topics share one message id")
	}
}

func TestBroadcastChecksEveryTopicFirst(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	msg := n.post(t, "/api/broadcast", `{"topics":["a","b>","c"],"data":1}`).wantError(t, http.StatusBadRequest, "invalid_topic")
	if !strings.Contains(msg, "topics[1]") {
		t.Fatalf("message %q does not point at topics[1]", msg)
	}
	n.post(t, "/api/broadcast", `{"topics":[],"data":1}`).wantError(t, http.StatusBadRequest, "bad_request")
	n.post(t, "/api/broadcast", `{"topics":["a"]}`).wantError(t, http.StatusBadRequest, "bad_request")
	n.post(t, "/api/broadcast", `{"topics":"a","data":1}`).wantError(t, http.StatusBadRequest, "bad_request")
	if h := history(t, n, "a", ""); len(h.Messages) != 0 {
		t.Fatalf("a refused broadcast published %d messages to a", len(h.Messages))
	}
}

func TestBatch(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	var got results
	n.post(t, "/api/batch", `{"messages":[{"topic":"a","data":1},{"topic":"b","data":"x"},{"topic":"a","data":[3],"idempotency_key":"k"}]}`).wantOK(t, &got)
	want := []published{{Topic: "a", Seq: 1}, {Topic: "b", Seq: 1}, {Topic: "a", Seq: 2}}
	if len(got.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(got.Results), len(want))
	}
	for i, w := range want {
		if r := got.Results[i]; r.Topic != w.Topic || r.Seq != w.Seq || r.Msg == "" {
			t.Errorf("result %d: %+v, want %+v", i, r, w)
		}
	}
}

func TestBatchChecksEveryMessageFirst(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	big := `"` + strings.Repeat("x", testMaxMessageBytes) + `"`
	cases := []struct {
		body   string
		status int
		code   string
		where  string
	}{
		{`{"messages":[{"topic":"a","data":1},{"topic":"*","data":1}]}`, 400, "invalid_topic", "messages[1]"},
		{`{"messages":[{"topic":"a","data":1},{"topic":"b"}]}`, 400, "bad_request", "messages[1]"},
		{`{"messages":[{"topic":"a","data":1},{"data":2}]}`, 400, "bad_request", "messages[1]"},
		{`{"messages":[{"topic":"a","data":1},{"topic":"b","data":` + big + `}]}`, 413, "message_too_large", "messages[1]"},
		{`{"messages":[]}`, 400, "bad_request", "messages"},
		{`{"messages":{"topic":"a"}}`, 400, "bad_request", "messages"},
	}
	for _, tc := range cases {
		msg := n.post(t, "/api/batch", tc.body).wantError(t, tc.status, tc.code)
		if !strings.Contains(msg, tc.where) {
			t.Errorf("message %q does not point at %s", msg, tc.where)
		}
	}
	if h := history(t, n, "a", ""); len(h.Messages) != 0 {
		t.Fatalf("refused batches published %d messages to a", len(h.Messages))
	}
}

func TestBatchTooManyMessages(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	msgs := strings.Repeat(`{"topic":"a","data":1},`, 1001)
	n.post(t, "/api/batch", `{"messages":[`+strings.TrimSuffix(msgs, ",")+`]}`).wantError(t, http.StatusBadRequest, "bad_request")
}

// failingEngine is a memory engine whose backend goes away after ok
// publishes.
type failingEngine struct {
	*memory.Engine
	ok atomic.Int32
}

func (e *failingEngine) Publish(ctx context.Context, req broker.PublishRequest) (broker.PublishResult, error) {
	if e.ok.Add(-1) < 0 {
		return broker.PublishResult{}, broker.Unavailable(errors.New("redis went away"))
	}
	return e.Engine.Publish(ctx, req)
}

func TestBatchFailingMidway(t *testing.T) {
	mem := memory.New(memory.Config{HistorySize: 10, HistoryTTL: time.Minute})
	t.Cleanup(func() { closeWithin(t, "engine", mem.Close) })
	eng := &failingEngine{Engine: mem}
	eng.ok.Store(2)
	n := startNode(t, api.Config{}, eng)
	r := n.post(t, "/api/batch", `{"messages":[{"topic":"a","data":1},{"topic":"b","data":2},{"topic":"c","data":3},{"topic":"d","data":4}]}`)
	msg := r.wantError(t, http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(msg, "message 3 of 4") {
		t.Fatalf("message %q does not say where it stopped", msg)
	}
	var got results
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 2 || got.Results[0].Topic != "a" || got.Results[1].Topic != "b" {
		t.Fatalf("results %+v, want a and b", got.Results)
	}
	if h := history(t, n, "c", ""); len(h.Messages) != 0 {
		t.Fatal("the failed message was published")
	}
}

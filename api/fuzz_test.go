package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
)

// FuzzPublishBody drives arbitrary bodies through every publishing route:
// each must be answered 200, 400 or 413 with a JSON body, and a 200 only
// for topics that are valid.
func FuzzPublishBody(f *testing.F) {
	for _, seed := range []string{
		`{"topic":"news","data":{"text":"hi"}}`,
		`{"topic":"a.b","data":[1,2],"idempotency_key":"k"}`,
		`{"topics":["a","b"],"data":null}`,
		`{"messages":[{"topic":"a","data":1},{"topic":"b>","data":2}]}`,
		`{"topic":5}`, `[]`, `{`, ``, `null`,
	} {
		f.Add(seed)
	}
	// The fuzz function may not log through f, so the node logs nothing.
	n := startNode(f, api.Config{Logger: zap.NewNop()}, nil)
	h := n.srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/api/publish", "/api/broadcast", "/api/batch"} {
			w := serveFrom(h, "127.0.0.1:1", "POST", path, body)
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %q: reply %q is not JSON", path, body, w.Body.Bytes())
			}
			switch w.Code {
			case http.StatusOK:
				checkPublished(t, path, body, w.Body.Bytes())
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("%s %q: status %d %s", path, body, w.Code, w.Body.Bytes())
			}
		}
	})
}

func checkPublished(t *testing.T, path, body string, reply []byte) {
	var got struct {
		Topic   string
		Results []published
	}
	if err := json.Unmarshal(reply, &got); err != nil {
		t.Fatal(err)
	}
	if path == "/api/publish" {
		got.Results = []published{{Topic: got.Topic}}
	}
	for _, r := range got.Results {
		if !broker.ValidTopic(r.Topic) {
			t.Fatalf("%s %q published to %q", path, body, r.Topic)
		}
	}
}

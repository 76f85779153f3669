package hooks_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-broker/herald/internal/node"
)

// /sse asks the connect hook as /ws does, and the subscribe hook about
// each of its topics before the stream opens.
func TestHooksOnSSE(t *testing.T) {
	connect := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		q, _ := body["query"].(map[string]any)
		if q["user"] == "nobody" {
			answerJSON(401, `{"error":{"code":"unauthorized","message":"log in"}}`)(w, body)
			return
		}
		answerJSON(200, `{"user":"42"}`)(w, body) // no allow: the hook decides
	})
	sub := newBackend(t, func(w http.ResponseWriter, body map[string]any) {
		if body["topic"] == "room.secret" {
			answerJSON(200, `{"error":{"code":"forbidden","message":"no"}}`)(w, body)
			return
		}
		answerJSON(200, `{}`)(w, body)
	})
	n := startNode(t, node.Hooks{ConnectURL: connect.srv.URL, SubscribeURL: sub.srv.URL, SubscribeTopics: []string{"room.>"}}, nil)
	get := func(query string) *http.Response {
		t.Helper()
		resp, err := (&http.Client{Timeout: wait}).Get(n.Base + "/sse" + query)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := get("?topic=room.1&user=nobody"); r.StatusCode != 401 {
		t.Fatalf("refused by the connect hook: %d", r.StatusCode)
	}
	if r := get("?topic=room.1&topic=room.secret"); r.StatusCode != 403 {
		t.Fatalf("refused by the subscribe hook: %d", r.StatusCode)
	}
	if r := get("?topic=news"); r.StatusCode != 403 {
		t.Fatalf("a topic the hook does not cover, without allow: %d", r.StatusCode)
	}
	r := get("?topic=room.1&topic=room.2")
	if r.StatusCode != 200 {
		t.Fatalf("accepted by both hooks: %d", r.StatusCode)
	}
	line, err := bufio.NewReader(r.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "event: subscribed") {
		t.Fatalf("first line %q, %v", line, err)
	}
	asked := 0
	for _, b := range sub.requests() {
		if strings.Contains(b, `"user":"42"`) {
			asked++
		}
	}
	if asked != 4 { // room.1, room.secret, room.1, room.2
		t.Fatalf("the subscribe hook was asked %d times, want 4: %v", asked, sub.requests())
	}
}

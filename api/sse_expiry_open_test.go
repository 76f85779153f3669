package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestSSETokenExpiringWhileTheStreamOpens: a token that expires while its
// stream opens (here while the subscribe hook is asked, on the request's
// goroutine) ends the stream 4001 once it starts. The expiry's close,
// coming before the stream has its connection, is only recorded
// (broker's stream.Close): no release of the session's subscriptions
// runs beside their setup, which the race detector would report.
func TestSSETokenExpiringWhileTheStreamOpens(t *testing.T) {
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second) // a JWT's exp is in seconds
	if time.Until(exp) < 300*time.Millisecond {
		exp = exp.Add(time.Second)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Until(exp) + 200*time.Millisecond) // answers once the token expired
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(backend.Close)
	n := nodetest.Start(t, nodetest.Options{Node: heraldnode.Config{
		NodeID: "test-node", Tokens: hsVerifier(t),
		Broker: broker.Config{RateLimit: 1000},
		Hooks:  heraldnode.Hooks{SubscribeURL: backend.URL, SubscribeTopics: []string{"hooked.>"}},
	}})
	tok := hsTokenUntil(t, "u", everything, exp)
	s := mustOpenSSE(t, n.Base, "/sse?topic=hooked.a&topic=b&topic=c.*", "Authorization", "Bearer "+tok)
	if time.Now().Before(exp) {
		t.Fatal("the stream opened before its token expired: the hook did not hold it")
	}
	if code := s.closeCode(t); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}
}

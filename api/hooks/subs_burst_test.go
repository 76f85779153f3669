package hooks_test

import (
	"testing"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/internal/node"
)

// A connect-hook answer whose subs count more of its address's command
// budget than the burst is a bad answer, refused 503 as one naming too
// many subs is, not 429 rate_limited for good: the budget never holds
// more than its burst.
func TestConnectHookSubsPastTheBurstAreRefused(t *testing.T) {
	conns, err := limits.NewConnLimiter(limits.ConnConfig{CommandRate: 1, CommandBurst: 6})
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, answerJSON(200, `{"user":"1","subs":["a","b","c","d","e","f","g"]}`))
	cfg := node.Config{Hooks: node.Hooks{ConnectURL: b.srv.URL}}
	cfg.API.Conns = conns
	n := startNodeWith(t, cfg)
	if r := refused(t, n, ""); r.status != 503 || r.code != "unavailable" {
		t.Fatalf("an answer of 7 subs with a burst of 6: %+v, want 503 unavailable", r)
	}
}

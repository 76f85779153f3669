package api_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/internal/redistest"
)

// /metrics costs a rendering of every metric and needs no key: one
// keep-alive connection asked it as fast as it could send. It is paced
// per address, in a count of its own, so a prober spends none of its
// address's WebSocket upgrades. /healthz and /readyz are never paced (a
// prober must not read a 429 as "not ready"): /readyz costs a Redis call,
// so the node's /readyz requests share their checks instead, at most one
// per readyFresh (250 ms), whoever asks.
func TestMonitoringRoutesArePacedPerAddress(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	const burst = 5
	n := startNode(t, api.Config{
		Probes:  connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst}),
		Conns:   connLimiter(t, limits.ConnConfig{Rate: 1, Burst: 1}),
		Metrics: http.NotFoundHandler(),
	}, redisEngine(t, srv.URL()))

	before := readinessCalls(t, admin)
	start := time.Now()
	const tries = 60
	metrics := 0
	for i := range tries {
		path := []string{"/readyz", "/healthz", "/metrics"}[i%3]
		r := n.get(t, path)
		switch {
		case path != "/metrics" && r.status != http.StatusOK:
			t.Fatalf("%s answered %d %s, want 200", path, r.status, r.body)
		case path == "/metrics" && r.status == http.StatusTooManyRequests:
			wantRateLimited(t, r)
		case path == "/metrics":
			metrics++
		}
	}
	if metrics != burst {
		t.Fatalf("%d of %d /metrics requests served, want the burst of %d", metrics, tries/3, burst)
	}
	// 20 /readyz requests: one check, and one more per readyFresh they took.
	most := 1 + int(time.Since(start)/(250*time.Millisecond))
	if calls := readinessCalls(t, admin) - before; calls < 1 || calls > most {
		t.Fatalf("%d /readyz requests reached Redis %d times, want 1 to %d", tries/3, calls, most)
	}
	mustDial(t, n) // the address's upgrades were not spent
}

// readinessCalls is how many readiness probes Redis ran.
func readinessCalls(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	return redistest.CommandCalls(t, admin.Options().Addr, "setrange")
}

// Wrong API keys do not spend an address's pace: a caller with the right
// key behind the same address (a NAT, a proxy whose forwarding is not
// trusted) is never locked out by another's guesses. Keys are secrets
// too long to guess (README, "API keys"); pacing guesses
// would have to refuse the right key too.
func TestWrongAPIKeysLockNobodyOut(t *testing.T) {
	const burst = 5
	n := startNode(t, api.Config{
		APIKeys: []string{"the-right-key"},
		Probes:  connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst}),
	}, nil)
	for i := range 4 * burst {
		n.get(t, "/api/stats", "Authorization", "Bearer guess-"+strconv.Itoa(i)).wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	if r := n.get(t, "/api/stats", "Authorization", "Bearer the-right-key"); r.status != http.StatusOK {
		t.Fatalf("the right key after %d wrong ones from its address: %d %s", 4*burst, r.status, r.body)
	}
	if r := n.get(t, "/metrics"); r.status == http.StatusTooManyRequests {
		t.Fatal("wrong keys spent the address's pace of /metrics")
	}
}

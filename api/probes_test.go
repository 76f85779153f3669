package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/internal/redistest"
)

// /readyz costs a Redis call and /metrics a rendering of every metric, and
// need no key: one keep-alive connection asked them as fast as it could
// send (10,000 Redis calls a second from four connections). They are
// paced per address, in a count of their own, so a prober spends none of
// its address's WebSocket upgrades.
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
	const tries = 40
	ok := 0
	for i := range tries {
		path := []string{"/readyz", "/healthz", "/metrics"}[i%3]
		r := n.get(t, path)
		if r.status == http.StatusTooManyRequests {
			wantRateLimited(t, r)
			continue
		}
		ok++
	}
	if ok != burst {
		t.Fatalf("%d of %d monitoring requests served, want the burst of %d", ok, tries, burst)
	}
	// Two of the five served were /readyz (requests 0 and 3).
	if calls := readinessCalls(t, admin) - before; calls != 2 {
		t.Fatalf("%d /readyz requests reached Redis, want 2", calls)
	}
	mustDial(t, n) // the address's upgrades were not spent
}

// readinessCalls is how many readiness probes Redis ran.
func readinessCalls(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_setrange:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

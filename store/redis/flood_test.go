package redis_test

import (
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// Herald sets no bound of its own on the history Redis keeps: a client
// that may publish anywhere and names a new topic each time holds a
// stream (4.7 KB at least on Redis 7.0) per topic for the history TTL.
// README's "Redis memory" asks for a maxmemory with volatile-lru, under
// which every key of a topic's history carries a TTL and Redis evicts the
// least recently used topics: publishing goes on, to new topics and old,
// and an evicted topic starts a new epoch (its resumes answer
// recovered:false). This floods a Redis of 4 MB with five times that.
func TestTopicFloodUnderVolatileLRUKeepsPublishing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100})
	const maxMemory = 4 << 20
	do(t, admin, "CONFIG", "SET", "maxmemory-policy", "volatile-lru")
	do(t, admin, "CONFIG", "SET", "maxmemory", strconv.Itoa(int(usedMemory(t, admin))+maxMemory))

	first := mustPublish(t, e, request("flood.first"))
	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	for i := range 4000 {
		req := request("flood." + strconv.Itoa(i))
		req.Data = data
		if _, err := e.Publish(ctxFor(t), req); err != nil {
			t.Fatalf("publish %d of the flood: %v", i, err)
		}
	}
	if evicted := infoFields(admin.Info(ctxFor(t), "stats").Val())["evicted_keys"]; evicted == "0" || evicted == "" {
		t.Fatalf("evicted_keys %q: the flood fit, it tests nothing", evicted)
	}
	again := mustPublish(t, e, request("flood.first"))
	if again.Epoch == first.Epoch { // Redis's LRU is sampled: usually evicted, not always
		if again.Seq != first.Seq+1 {
			t.Fatalf("the first topic went from %+v to %+v", first, again)
		}
		return
	}
	h, err := e.History(ctxFor(t), "flood.first", 0, 0)
	if err != nil || h.Epoch != again.Epoch || len(h.Messages) != 1 || h.Messages[0].Seq != 1 {
		t.Fatalf("history of an evicted topic published again: %+v %v, want its new epoch from seq 1", h, err)
	}
}

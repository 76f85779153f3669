package redis_test

import (
	"github.com/herald-broker/herald/broker"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis out of memory under noeviction refuses every publish, a first
// one to a topic it holds nothing of included (docs/protocol.md section
// 3). Redis refuses a script's write for memory only while the script has
// written nothing: the publish script's first write to a new topic was a
// DEL, which Redis never refuses, and what followed it went through, so
// a client that may publish anywhere grew a full Redis past its
// maxmemory one new topic at a time, each answered 200.
func TestOutOfMemoryRefusesAPublishToANewTopic(t *testing.T) {
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 100})
	mustPublish(t, e, request("old"))
	refusals["out of memory"].refuse(t, srv, a)
	do(t, a, "CONFIG", "SET", "maxmemory", "1") // whatever else the test's Redis holds
	keys := func() int64 { return do(t, a, "DBSIZE").(int64) }
	before := keys()
	withKey := request("fresh.two")
	withKey.IdempotencyKey = "k"
	for _, req := range []broker.PublishRequest{request("fresh.one"), withKey} {
		_, err := e.Publish(ctxFor(t), req)
		wantNothingPublished(t, "a publish to a new topic under OOM", err)
	}
	if after := keys(); after != before {
		t.Fatalf("Redis holds %d keys after the refused publishes, %d before", after, before)
	}
	refusals["out of memory"].restore(t, srv, a)
	mustPublish(t, e, request("fresh.one"))
}

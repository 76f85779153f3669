package redis_test

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A topic's stream put back from an older copy over the one its epoch
// wrote, as redis-cli --cluster fix --cluster-replace does on Cluster
// after a failover in the middle of a migration of the topic's slot left
// the stream on one master and meta on the other (MIGRATE ... REPLACE, a
// DUMP restored over the key): the stream already holds the seq the next
// publish is to give. That publish was refused by Redis as internal,
// after it had spent the seq and named in meta a message that never was;
// it now starts the topic a new epoch, whose history holds none of the
// older copy's messages.
func TestStreamPutBackFromAnOlderCopyStartsANewEpoch(t *testing.T) {
	srv := redistest.Start(t)
	a := admin(t, srv.Addr())
	prefix := uniquePrefix(t)
	e := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 100})
	const topic = "put.back"
	meta, hist := prefix+"{"+topic+"}:meta", prefix+"{"+topic+"}:hist"
	for range 10 {
		mustPublish(t, e, request(topic))
	}
	older := do(t, a, "DUMP", hist).(string)
	do(t, a, "DEL", meta, hist) // the topic starts over, in an epoch of its own
	var last string
	for range 3 {
		last = mustPublish(t, e, request(topic)).Epoch
	}
	do(t, a, "RESTORE", hist, 0, older, "REPLACE")

	res, err := e.Publish(ctxFor(t), request(topic))
	if err != nil {
		t.Fatalf("a publish onto the stream put back: %v", err)
	}
	if res.Epoch == last || res.Seq != 1 {
		t.Fatalf("the publish got seq %d of epoch %s (the epoch before: %s), want seq 1 of a new one", res.Seq, res.Epoch, last)
	}
	h, err := e.History(ctxFor(t), topic, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].ID != res.ID || h.Epoch != res.Epoch {
		t.Fatalf("history of epoch %s holds %d messages, want the one published", h.Epoch, len(h.Messages))
	}
}

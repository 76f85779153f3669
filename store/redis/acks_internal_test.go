package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// A confirmation releases only the waits of the connection it came
// through: a shard replaced while its master was stopped is redialled by
// go-redis, which subscribes the shard's probe channel again, and the
// confirmation of that, on the old connection, released the new shard's
// wait for the same channel before Redis had run the new shard's
// SSUBSCRIBEs (see acks).
func TestAConfirmationReleasesOnlyItsConnectionsWaits(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled: no channel is subscribed
	defer rdb.Close()
	old, replacement := rdb.Subscribe(t.Context()), rdb.Subscribe(t.Context())
	defer old.Close()
	defer replacement.Close()
	var a acks
	waiting := a.expect(replacement, "ssubscribe", "probe")
	a.confirm(old, "ssubscribe", "probe")
	select {
	case <-waiting.done:
		t.Fatal("the old connection's confirmation released the wait of its replacement")
	default:
	}
	a.confirm(replacement, "ssubscribe", "probe")
	select {
	case <-waiting.done:
	default:
		t.Fatal("the connection's own confirmation did not release its wait")
	}
}

//go:build unix

package redis_test

import (
	"strings"
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A lost join's leave reported before the topic's master restarted from
// a snapshot that kept all of it, and queued late, after the
// member_added of its user's return decided after the restart, is still
// dropped. Redis gives a master that restarts (and one a replica first
// attaches to with no backlog) a new master_replid and no
// master_replid2, so the return's master named no term before its own,
// and the leave, of another term, went after the return: the backend
// held the present user for gone. The terms the topic's data went
// through are kept in its slot, and the return carries those before its
// own.
func TestLostJoinsLeaveBeforeARestartDroppedForAReturnAfterIt(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	const topic = "room.restarted"
	reporter, node, q, leaves := holdDavesLostLeave(t, c.URL(), topic)

	// The topic's master restarts from a snapshot of all of it.
	master := c.MasterOfKey(redis.LostJoinsTaken(reporter, topic))
	before := admin(t, master.Addr()).Info(ctxFor(t), "replication").Val()
	if err := admin(t, master.Addr()).Save(ctxFor(t)).Err(); err != nil {
		t.Fatal(err)
	}
	master.Restart()
	c.WaitOK()
	if after := admin(t, master.Addr()).Info(ctxFor(t), "replication").Val(); replID(after) == replID(before) {
		t.Fatalf("the restart kept master_replid %s", replID(after))
	}

	// dave comes back, and its member_added goes before the leave's.
	daveBackBeforeHisLeave(t, topic, reporter, node, q, leaves)
}

// replID is the master_replid an INFO replication reply names.
func replID(info string) string {
	_, rest, _ := strings.Cut(info, "master_replid:")
	id, _, _ := strings.Cut(rest, "\r\n")
	return id
}

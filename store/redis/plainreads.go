package redis

import (
	goredis "github.com/redis/go-redis/v9"
)

// The reads that find what pub/sub lost go on connections that skip the
// run key's stamp: a check's read of positions and of the history that
// fills what a topic missed (checks.go), the replay of the presence
// change logs (changebatch.go), and the reads of the control stream:
// where it ends, before a node's first subscribe (control.go), and the
// catch-up after a break (control_catchup.go). A master full under
// noeviction after a restart, or after a flush of its script cache,
// refuses the stamp's write to every new connection, and on stamping
// connections these reads failed for as long as it stayed full: a
// message dropped on pub/sub meanwhile was neither delivered nor told as
// a gap, a join or leave the node missed waited, a control a break lost
// was given up after controlCatchUp, and a node that had subscribed
// nothing yet could subscribe nothing, on any master.
//
// They need no stamp, because the stamp changes nothing they read and
// nothing they lead to writes without one. It writes the run keys alone,
// and only scripts read those, to judge meta's mark (runLua): a read of
// meta, a topic's stream, its change log or the control stream returns
// the same before the stamp as after it, so it serves what the stamping
// connection would have served once the master took writes again. A
// master restarted from a snapshot older than its last publishes shows a
// position behind what was handed over, and the check begins a rebase
// (failover.go), which is a script and goes through the stamping client:
// while the master is full it fails, as a publish does, and is tried at
// the next check. Seqs and epochs are only written by scripts (a publish, a
// rebase, a read that starts an epoch), which still wait for the stamp,
// so such a read makes no seq given twice, nor skipped: what it hands
// over from history are messages that history holds, each with the seq
// it was acknowledged with, and once the master takes writes its next
// publish starts a new epoch, as after any restart
// (TestOlderCopyReadWhileFullGivesNoSeqTwice). The history read is the
// read script, whose unsure flag does judge the mark against a run key
// that may not name the process yet; the check does not use it. A
// resume does: its reads stay on the stamping client, and fail as
// unavailable while the master is full, rather than tell a client that
// it recovered everything when the snapshot lost acknowledged messages.

// plainReader returns the client for plain reads of the keys master
// holds (a node client of the Cluster client; nil when the slot map
// names none), and the func to call once done with it: on Cluster,
// master's twin whose connections skip the stamp (twins.go), lent until
// then, or e.rdb when there is no master to name; with one Redis, the
// twin e.pubsub.
func (e *Engine) plainReader(master *goredis.Client) (goredis.Cmdable, func()) {
	switch {
	case !e.shards.on():
		return e.pubsub, func() {}
	case master == nil:
		return e.rdb, func() {}
	}
	return e.stamps.twins.lend(master)
}

// readPlain runs read through the client plainReader gives for master,
// as readFollowing does.
func (e *Engine) readPlain(master *goredis.Client, read func(goredis.Cmdable) error) error {
	c, done := e.plainReader(master)
	defer done()
	return e.readFollowing(c, read)
}

// readFollowing runs read through c (from plainReader, or e.rdb), and
// once more through e.rdb when Redis answered that a key it read is on
// another master now (a slot that moved since the slot map was read):
// the Cluster client follows the redirect, on connections that stamp.
func (e *Engine) readFollowing(c goredis.Cmdable, read func(goredis.Cmdable) error) error {
	err := read(c)
	if movedAway(err) && c != goredis.Cmdable(e.rdb) {
		err = read(e.rdb)
	}
	return err
}

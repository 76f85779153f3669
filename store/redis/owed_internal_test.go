package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
)

// A topic found owed a check while a check of it is in flight stays owed
// when that check ends: the check read the topic's position before, and
// does not cover what was published after that read. On Cluster this
// lost a message: a check of a stopped master's topic waited on its
// read; the master's shard was replaced and the topic homed again, owed
// a check since the periodic probe had found the master away; the master
// came back, the waiting check read the position before a message
// published ahead of the new shard's SSUBSCRIBE, and its end took the
// topic off the owed list. No later check looked at the topic, and the
// message was never delivered, with no gap. Here the master found away
// is the one Redis (""), and the watch's steps are taken by hand in that
// order.
func TestAFoundOwedDuringACheckStaysOwed(t *testing.T) {
	srv := redistest.Start(t)
	e := startEngine(t, Config{URL: srv.URL(), NodeID: "n1", HistorySize: 10,
		ProbeInterval: time.Hour, CheckInterval: time.Hour}) // its own watcher stays out of the way
	got := make(chan *broker.Message, 8)
	e.Attach(messageSink(got))
	if err := e.Subscribe(t.Context(), "room"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(t.Context(), broker.PublishRequest{Topic: "room", Data: []byte(`1`), ID: "m1", Time: 1}); err != nil {
		t.Fatal(err)
	}
	<-got
	st := e.subs.state("room")
	w := newWatcher(t.Context(), e, newJobs())
	defer w.stop()

	w.check([]*topicState{st}) // its check starts, reads the position and probes
	<-w.jobs.freed             // and ends; the watch has not taken in what it found
	const master = ""          // the one Redis
	if err := w.probed(master, probed{unanswered: away{master: true}}, nil); err != nil {
		t.Fatal(err)
	}
	w.check([]*topicState{st}) // homed again, as repairShards' topics are: owed while the master is away
	if !slices.Contains(w.owedList(), st) {
		t.Fatal("a topic to check while its master is away was not owed a check")
	}
	if err := (<-w.done)(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(w.owedList(), st) {
		t.Fatal("a check that started before the topic was found owed took it off the owed list")
	}
}

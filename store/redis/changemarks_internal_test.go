package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// A change that starts a topic's log anew follows on from a mark at the
// old log's end only while the mark's link stayed up: after a break, the
// link may have lost a whole log that came and went, and the mark reads
// its log instead. Here the changes are handed to dispatchChange as a
// receive loop would, and the break is counted as broke counts it.
func TestANewLogAfterABreakDoesNotFollowOn(t *testing.T) {
	srv := redistest.Start(t)
	e := startEngine(t, Config{URL: srv.URL(), NodeID: "n1", HistorySize: 10,
		ProbeInterval: time.Hour, CheckInterval: time.Hour}) // its own watcher stays out of the way
	const topic = "room.broke"
	if err := e.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	// The supervisor's first watch starts when it likes, beside the test:
	// after the break below, it has the mark read its log (allMarksBehind),
	// and a replay that settles the mark before the second change rightly
	// takes the chain on from the log's end. So the break comes once that
	// start is over, and no replay comes between it and the change.
	if err := supervisorWaiting(e); err != nil {
		t.Fatal(err)
	}
	change := func(prev, id string) string {
		link := prev + " " + id
		return fmt.Sprintf("\nj%d:%s1:a2:s10:%d:%s", len(topic), topic, len(link), link)
	}
	e.dispatchChange(topic, change(noChange, "5-0"))
	e.linkBroke()
	e.dispatchChange(topic, change(noChange, "9-0"))
	m := e.markOf(topic)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == "9-0" {
		t.Fatal("a change that started a log anew was taken as following on across a break of the link")
	}
}

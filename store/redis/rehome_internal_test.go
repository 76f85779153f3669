package redis

import "testing"

// A slot map that knows no master for a waiting topic names no new one:
// noMaster stands for none (masters.go), so it moves nothing, and the
// topic waits for the backoff or for a map that names its master.
func TestNoMasterKnownIsNoNewHome(t *testing.T) {
	e := &Engine{shards: newShards(nil), masterUnknown: func(string) bool { return true }}
	e.shards.unhomed["room"] = true
	if e.homeMoved(t.Context()) {
		t.Fatal("a slot map that knows no master for a waiting topic was taken to name a new one")
	}
}

package redistest

import (
	"testing"
	"time"
)

// What the replicated setups, Cluster and Sentinel, share: how their data
// nodes run, how a node's replication is read, and how long they may take
// to settle.

// dataArgs are the arguments of every data-holding node: loopback only and
// nothing persisted. Replication goes through an RDB file deleted once sent
// (a restart loads nothing): with Redis 7.0's diskless sync, a write made
// just after a replica's first sync was acknowledged by WAIT, yet missing
// from the replica that then took over.
func dataArgs(dir string) []string {
	return []string{"--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no",
		"--repl-diskless-sync", "no", "--rdb-del-sync-files", "yes",
		"--repl-diskless-load", "swapdb"}
}

// replication is a node's role and, for a replica, its master link status.
func replication(addr string) (role, link string) {
	info, err := doString(addr, "INFO", "replication")
	if err != nil {
		return "", ""
	}
	return infoField(info, "role"), infoField(info, "master_link_status")
}

// waitFor polls ready until it returns nil, and fails the test with its
// last error if that takes longer than waitTimeout.
func waitFor(t testing.TB, what string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s: not within %v: %v", what, waitTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTimeout bounds each wait for a cluster or sentinels to settle.
const waitTimeout = 30 * time.Second

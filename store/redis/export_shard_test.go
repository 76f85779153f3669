package redis

import "time"

// AfterShardFound has e run fn each time it found or opened the shard a
// topic is to be homed on, before it homes the topic there (after a
// subscribe's check of the topic's slot). Set it before e is used.
func AfterShardFound(e *Engine, fn func()) { e.afterShardFor = fn }

// ForgetMasters has e know no master as the slot map read last named
// them, as a node does of a replica promoted, or a master added, since
// that read, and reports whether e had read them. Give e a
// ReadMastersEvery longer than the test, so that it reads them no more.
func ForgetMasters(e *Engine) bool {
	e.shards.mu.Lock()
	defer e.shards.mu.Unlock()
	read := !e.shards.mastersAt.IsZero()
	if read {
		e.shards.masters = nil
		e.shards.mastersAt = time.Now()
	}
	return read
}

// MasterWaits counts the subscribes of topics e tried again for want of
// their master (a slot map behind a move, say).
func MasterWaits(e *Engine) uint64 { return e.shards.masterWaits.Load() }

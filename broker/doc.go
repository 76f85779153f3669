// Package broker holds sessions and their commands, the subscription index
// and fan-out. It knows no socket, no HTTP and no Redis: transport gives it
// Conns, an Engine gives it messages.
//
// # Goroutines
//
// HandleText and Disconnected run on the transport's goroutine and never
// wait for the engine: they rate-limit and decode, answer what needs no
// engine while nothing is queued, and queue the rest for the session's
// worker, a goroutine that exists only while the session has queued
// commands and runs them in order. Broker.Close waits for the workers.
// Calls for one connection must not overlap (the transport guarantees it),
// and Conn.Send and Conn.Close must not call back into the Session.
//
// HandleMessage runs on the engine's goroutines, one topic at a time and
// different topics in parallel: the index is a set of read-write locked
// shards for exact topics plus one for the pattern trie, and fan-out holds
// only read locks.
//
// # Locks, in the order they nest
//
// An exact-topic shard, then the pattern trie, then a Session's mu, then a
// subscription's mu, then an SSE stream's mu (stream.go), which guards
// only the stream's ids and its Conn. A shard's cache of pattern picks has
// its own mutex, taken under the shard's and the trie's read locks and
// holding no other. No lock is held across an engine call; Conn.Send is
// called under read locks, subscription locks and a stream's lock only,
// as it never blocks.
//
// # Subscribing without losing or repeating
//
// A new subscription enters the index holding live messages back. Then the
// engine is told (on the node's first subscription to the pattern) and the
// topic's position or history is read; because an engine keeps a message in
// history before delivering it, every message is either in that history or
// delivered afterwards. The reply and history go out, then the held
// messages newer than what was sent, and the subscription goes live. An
// exact subscription keeps the last seq it delivered and skips anything at
// or before it in the same epoch.
package broker

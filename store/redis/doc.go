// Package redis is the broker.Engine that makes every node sharing one Redis
// a single broker (PROTOCOL.md section 4). Redis is the only shared state.
//
// # Keys
//
// Every key starts with Config.Prefix, and every key of one topic carries the
// topic as its hash tag, so that the publish script touches one slot and
// stays valid on Redis Cluster:
//
//	<prefix>{<topic>}:meta        hash: epoch, seq (the topic's position)
//	<prefix>{<topic>}:hist        stream of the current epoch, entry ID <seq>-0,
//	                              fields i (message id), m (time ms), d (data)
//	<prefix>{<topic>}:idem:<key>  "epoch\nseq\nid", the first publish's result
//
// meta and hist expire HistoryTTL after the topic's last publish; when meta
// is gone (expired, or Redis lost its data) the next publish or Position
// starts a new epoch and drops any stale stream. An idempotency key is scoped
// to its topic (it must share the topic's slot); since it lives in Redis, a
// retry on any node gets the first reply.
//
// # Delivery between nodes
//
// The publish script PUBLISHes each message on the channel
// <prefix>m.<topic>. A node holds one pub/sub connection and adds a channel
// to it when the broker subscribes a topic. This keeps one channel per
// topic: publishers need not know who listens, and a message is published
// once however many nodes and patterns want it. The alternative,
// publishing to one channel per interested node, would need a registry of
// every node's patterns kept consistent through outages.
//
// Herald patterns reach Redis as a bounded set of globs (see maxGlobs),
// not one PSUBSCRIBE each: Redis matches every PUBLISH against every
// pattern subscription on the server, so 20 nodes holding 1,000 patterns
// each cut a cluster from 15,474 to 888 publishes/s. A node's patterns
// share one glob per literal first token ("chat.*" and "chat.a.>" both
// become "<prefix>m.chat.*") for the first maxGlobs-1 first tokens; past
// that, and for a pattern starting with a wildcard, they share the
// catch-all "<prefix>m.*". A glob is unsubscribed when its last pattern
// goes. Topic bytes hold no glob metacharacter, so only the prefix is
// escaped. Every received message is checked against this node's
// subscriptions before it is handed over. The cost: a node receives, and
// drops, messages of topics that share a first token with its patterns,
// or, once it holds the catch-all, every message of the cluster (and a
// message two of its globs match arrives twice, the second dropped as a
// duplicate); what it drops is bounded by the cluster's publish rate, and
// costs that node alone, where pattern subscriptions cost every publish of
// every node.
//
// Subscribe returns once Redis confirmed the subscription, so every message
// published after it returns reaches the node.
//
// A node keeps, per topic it delivers, the epoch and the last seq handed to
// the Handler. A duplicate (say, a topic matched by both an exact and a
// pattern subscription) is dropped; a gap is filled from the stream before
// the message is handed over; a new epoch starts over. After every
// reconnect the node reads every tracked topic's position in Redis, then
// sends a probe through its pub/sub connection: once the probe is back,
// everything published before that read has come through, so what is
// still missing was lost by pub/sub and is read from the stream. A message
// merely late is never skipped.
//
// Between reconnects the same check runs every CheckInterval, but only for
// topics with a message in the last few intervals: while the connection
// stays up Redis delivers in order, and a break, loud or silent (the
// probe), is followed by a check of everything, so what the periodic check
// adds is the last messages before a break and what reached history
// without being published. Its cost follows recent traffic, not every
// topic seen. A topic's state outlives its last message by HistoryTTL,
// like the topic in Redis, so that a message after a long silence still
// shows what was lost before it; keeping it costs memory, not Redis calls.
// The node cannot know of a topic it never delivered: what an outage lost
// of one goes unreported, and its first message to arrive starts delivery.
//
// Unsubscribing a pattern costs no pass over the tracked topics: states
// are checked against the remaining subscriptions, through a trie of the
// patterns, when their next message comes or in one sweep before the next
// pattern subscribe or check (see subscriptions).
//
// What the stream no longer holds (more than HistorySize messages were
// published while the connection was down, or Redis dropped a subscriber
// too slow to read), or cannot be read when needed, is reported to the
// Handler as a broker.Gap in its place: every message handed over passes
// one function that reports the seqs between it and the last one as a gap
// first, and a check that finds messages gone with nothing after them
// reports them up to the topic's position. A new epoch is not a gap: its
// messages carry it, so subscribers see the history broke.
//
// # Redis trouble
//
// Every call has Config.Timeout. Errors of an unreachable Redis wrap
// broker.ErrUnavailable. The pub/sub connection is probed by publishing on
// the node's private channel <prefix>probe.<node>; a probe that does not
// come back in time, or a read on the connection that fails, has the
// connection replaced and every channel and pattern subscribed again,
// retried with capped exponential backoff and jitter while Redis is away.
// go-redis would redial a broken pub/sub connection by itself, but silently:
// the engine replaces it instead so that the check after the reconnect
// finds what was published while it was down.
package redis

package redis

import (
	"strconv"
	"strings"

	"github.com/herald-broker/herald/broker"
)

// keys names the Redis keys and channels of one engine (see the package
// comment for the layout).
type keys struct{ prefix string }

func (k keys) meta(topic string) string { return k.prefix + "{" + topic + "}:meta" }
func (k keys) hist(topic string) string { return k.prefix + "{" + topic + "}:hist" }

// idem names the key of a publish's idempotency key, as
// broker.StoredIdempotencyKey shortens it: a client's key of any length
// costs Redis at most 65 bytes of name.
func (k keys) idem(topic, key string) string {
	return k.prefix + "{" + topic + "}:idem:" + broker.StoredIdempotencyKey(key)
}

// channel is where messages of topic are published.
func (k keys) channel(topic string) string { return k.prefix + "m." + topic }

// shardChannel is where messages of topic are published on Redis Cluster,
// with SPUBLISH: the topic is its hash tag, so it lives in the topic's slot,
// beside the topic's keys. The brace keeps it out of every glob of
// firstTokenGlob, and sharded channels never reach a PSUBSCRIBE anyway.
func (k keys) shardChannel(topic string) string { return k.prefix + "m.{" + topic + "}" }

// appendTagged appends the key of topic named by suffix, as meta, hist and
// idem name theirs, to b.
func (k keys) appendTagged(b []byte, topic, suffix string) []byte {
	b = append(append(b, k.prefix...), '{')
	return append(append(append(b, topic...), '}'), suffix...)
}

// appendChannel appends channel(topic) to b.
func (k keys) appendChannel(b []byte, topic string) []byte {
	return append(append(append(b, k.prefix...), "m."...), topic...)
}

// appendShardChannel appends shardChannel(topic) to b.
func (k keys) appendShardChannel(b []byte, topic string) []byte {
	return append(append(append(append(b, k.prefix...), "m.{"...), topic...), '}')
}

// topicOf returns the topic of a message channel, classic or sharded. It
// runs on every message received, and allocates nothing.
func (k keys) topicOf(channel string) (string, bool) {
	rest, ok := strings.CutPrefix(channel, k.prefix)
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, "m."); !ok {
		return "", false
	}
	if !strings.HasPrefix(rest, "{") {
		return rest, true
	}
	return strings.CutSuffix(rest[1:], "}")
}

// probe is the node's private channel for liveness probes.
func (k keys) probe(node string) string { return k.prefix + "probe." + node }

// shardProbe is the node's probe channel on the sharded connection opened
// for anchor's slot: SPUBLISHed there, it reaches the master of that slot.
func (k keys) shardProbe(node, anchor string) string { return k.probe(node) + ".{" + anchor + "}" }

// classicProbe is the node's n-th probe channel on Cluster for its classic
// connection: subscribed first, it pins the connection to the master of
// its slot, and each n has a slot of its own.
func (k keys) classicProbe(node string, n int) string {
	return k.probe(node) + ".{classic." + strconv.Itoa(n) + "}"
}

// isProbe reports whether channel is one of node's probe channels: probe
// or a shardProbe. It runs on every message received, and allocates
// nothing.
func (k keys) isProbe(node, channel string) bool {
	rest, ok := strings.CutPrefix(channel, k.prefix)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, "probe."); !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, node); !ok {
		return false
	}
	return rest == "" || (strings.HasPrefix(rest, ".{") && strings.HasSuffix(rest, "}"))
}

// firstTokenGlob is the Redis PSUBSCRIBE glob shared by the wildcard
// patterns that start with pattern's first token: "chat.*" and "chat.a.>"
// both get "<prefix>m.chat.*". It reports false when the first token is a
// wildcard. Redis's '*' also crosses dots, so the glob matches a superset
// of the patterns' topics; received messages are filtered exactly. Topic
// tokens hold no glob metacharacter, so only the prefix needs escaping.
func (k keys) firstTokenGlob(pattern string) (string, bool) {
	first, _, _ := strings.Cut(pattern, ".")
	if first == "*" || first == ">" {
		return "", false
	}
	return escapeGlob(k.prefix+"m.") + first + ".*", true
}

// catchAllGlob matches every message channel of the engine's prefix.
func (k keys) catchAllGlob() string { return escapeGlob(k.prefix+"m.") + "*" }

// escapeGlob quotes the glob metacharacters of a literal. Topic tokens never
// hold them; a prefix might.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// The keys of a topic's presence, in the topic's slot (see presence.go).
func (k keys) presEntries(topic string) string { return k.prefix + "{" + topic + "}:pres" }
func (k keys) presUsers(topic string) string   { return k.prefix + "{" + topic + "}:users" }
func (k keys) presNames(topic string) string   { return k.prefix + "{" + topic + "}:names" }

// presSeq numbers topic's joins and leaves (presence_scripts.go).
func (k keys) presSeq(topic string) string { return k.prefix + "{" + topic + "}:seq" }

// presChanges is the log of topic's joins and leaves (changes.go).
func (k keys) presChanges(topic string) string { return k.prefix + "{" + topic + "}:changes" }

// presLogEnd keeps, for a while, the ID of the last change of topic's log
// once the log went with the topic's last presence entry (changes.go).
func (k keys) presLogEnd(topic string) string { return k.prefix + "{" + topic + "}:changes:end" }

// presLost keeps, for a while, the sessions whose joins Redis lost and
// whose leaves' member events were reported (presence_lost.go).
func (k keys) presLost(topic string) string { return k.prefix + "{" + topic + "}:lost" }

// presLostUnqueued keeps, for as long as presLost, the reported leaves
// of lost joins whose member events may not be queued yet, by their seq
// (presence_lost_queue.go).
func (k keys) presLostUnqueued(topic string) string {
	return k.prefix + "{" + topic + "}:lost:unqueued"
}

// presLostTopics is the set of the topics where the node life reported
// leaves of lost joins whose member events may not be queued yet, for
// whoever cleans up after it (presence_lost_queue.go).
func (k keys) presLostTopics(life string) string { return k.prefix + "presence.lost." + life }

// presOwned is the set of the sessions of topic that the node life owns.
func (k keys) presOwned(topic, life string) string { return k.prefix + "{" + topic + "}:own:" + life }

// presNodes is the sorted set of node lives, scored by when their
// heartbeat lapses (Redis time, ms).
func (k keys) presNodes() string { return k.prefix + "presence.nodes" }

// presSynced is the hash of the terms of the masters each node life
// tells its entries are in (presence_terms.go).
func (k keys) presSynced() string { return k.prefix + "presence.synced" }

// presTopics is the set of the topics where the node life has owned
// presence entries, for whoever cleans up after it.
func (k keys) presTopics(life string) string { return k.prefix + "presence.node." + life }

// presReaper is the lock of whoever cleans up after the node life.
func (k keys) presReaper(life string) string { return k.prefix + "presence.reaper." + life }

// control is the channel controls go on: a classic one, which Redis
// Cluster passes to every node.
func (k keys) control() string { return k.prefix + "control" }

// isControl reports whether channel is control(), allocating nothing.
func (k keys) isControl(channel string) bool {
	rest, ok := strings.CutPrefix(channel, k.prefix)
	return ok && rest == "control"
}

// run names the Redis process serving the engine, off Cluster (see
// runstamp.go).
func (k keys) run() string { return k.prefix + "run" }

// slotRun is the run key of slot on Cluster, <prefix>run{<tag>}, whose tag
// puts it in slot (see runstamp_cluster.go).
func (k keys) slotRun(slot uint16) string { return string(k.appendSlotRun(nil, slot)) }

// appendSlotRun appends slotRun(slot) to b.
func (k keys) appendSlotRun(b []byte, slot uint16) []byte {
	b = append(append(b, k.prefix...), "run{"...)
	return append(appendRunTag(b, slot), '}')
}

// controls is the stream of the last controls (see control.go).
func (k keys) controls() string { return k.prefix + "controls" }

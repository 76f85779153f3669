package redis

import (
	"context"
	"slices"

	"github.com/herald-broker/herald/broker"
)

// Presence lives in Redis, per topic, in the topic's slot:
//
//	<prefix>{<topic>}:pres          hash: session → "<owner life>\n<user>"
//	<prefix>{<topic>}:users         hash: user → "<its sessions>\n<the info its join carried>"
//	<prefix>{<topic>}:names         sorted set: the users of users, score 0, so that a
//	                                presence page is read in name order from where the last ended
//	<prefix>{<topic>}:own:<life>    set: the sessions a node life added
//	<prefix>{<topic>}:seq           string: the number of its last join or leave, for a minute
//	<prefix>{<topic>}:changes       stream: its last joins and leaves (changes.go)
//	<prefix>{<topic>}:changes:end   string: the ID of the last of them, for a while once
//	                                the stream went with the topic's last entry
//	<prefix>{<topic>}:lost          hash: user → "<session>\n<node>\n<term>": the session of
//	                                its join Redis lost, whose leave that node reported on a
//	                                master of that term, for a while (presence_lost.go)
//	<prefix>{<topic>}:lost:unqueued hash: seq → "<life>\n<after>\n<end>\n<user>": such a leave whose
//	                                member event that life may not have queued yet, as long
//	                                as lost (presence_lost_queue.go)
//
// A script adds or removes an entry and its count in one atomic step, and
// publishes the join (count 0 → 1) or the leave (1 → 0) on the topic's
// own delivery channel (presence_scripts.go), so that every node that
// subscribed the topic hands it over in the order Redis decided it; it
// adds it to the change log too, so that a node whose pub/sub connection
// lost it reads it there. The scripts go through the publish pipelines: a
// presence call shares round trips with concurrent publishes and presence
// calls.
//
// A node dies without removing its entries, so each engine has a life (a
// random name per engine, so that a restarted node, or one named by
// HERALD_NODE_ID like its previous process, is never taken for its old
// self) that it keeps registered by a heartbeat, and a set of the topics
// where the life added entries (presence_keeper.go):
//
//	<prefix>presence.nodes          sorted set: life → when its heartbeat lapses
//	<prefix>presence.node.<life>    set: topics where it added entries
//	<prefix>presence.lost.<life>    set: topics where it may have left lost:unqueued records
//	<prefix>presence.reaper.<life>  the lock of whoever cleans up after it
//
// Every node looks for lapsed lives; the one that takes a life's lock runs
// the reap script on each of its topics, which removes its entries and
// publishes the leaves, has the member events of the lost joins' leaves
// it reported and did not queue queued (presence_lost_queue.go), then
// forgets the life. The topic set is written
// by the add script itself on one server; on Cluster, where it lives in
// another slot, beside the script, before the life's first entry on the
// topic. No key but seq, changes:end, lost and lost:unqueued has a TTL: a topic's keys
// go with its last entry, the change log included.
//
// A node also keeps its own entries in memory (presence_local.go): Close
// removes them, a node whose heartbeat lapsed while it lived adds them
// back under a new life, and after a reconnect (a failover may have lost
// recent writes) it makes Redis hold exactly them again.

// presKeys returns the keys of the presence scripts for topic and life.
func (e *Engine) presKeys(topic, life string) []string {
	return []string{e.keys.presEntries(topic), e.keys.presUsers(topic), e.keys.presOwned(topic, life), e.keys.presSeq(topic),
		e.keys.presNames(topic), e.keys.presChanges(topic), e.keys.presLogEnd(topic)}
}

// presenceChannels names where topic's joins and leaves go: where its
// messages go, but never only for patterns, which presence does not reach.
func (e *Engine) presenceChannels(topic string) (classic, sharded string) {
	if e.shards.on() {
		return "", e.keys.shardChannel(topic)
	}
	return e.keys.channel(topic), ""
}

// AddPresence records p in Redis; the first session of its user on the
// topic, on any node, publishes the join to every node.
func (e *Engine) AddPresence(ctx context.Context, p broker.PresenceEntry) error {
	if err := broker.CheckTopic(p.Topic); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	unlock, err := e.pres.enter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.registerLife(ctx); err != nil {
		return e.fail("presence heartbeat", err)
	}
	p.Info = slices.Clone(p.Info)
	life, fresh, index := e.pres.note(p)
	if index && e.shards.on() { // elsewhere the add script does it
		if err := e.rdb.SAdd(ctx, e.keys.presTopics(life), p.Topic).Err(); err != nil {
			e.pres.forget(p, fresh)
			return e.fail("add presence", err)
		}
	}
	if _, err := e.runAdd(ctx, p, life); err != nil {
		if fresh { // else the entry was this node's before: it stays
			e.pres.forget(p, fresh)
			e.undoAdd(p, life)
		}
		return e.fail("add presence", err)
	}
	if index {
		e.pres.indexed(life, p.Topic)
	}
	return nil
}

// runAdd runs the add script for p as life. On one server (Sentinel's
// included) the script puts the topic in the life's topic set itself; on
// Cluster that set lives in another slot, and the caller puts it there
// first, at a round trip's cost, once per topic and life.
func (e *Engine) runAdd(ctx context.Context, p broker.PresenceEntry, life string) (string, error) {
	classic, sharded := e.presenceChannels(p.Topic)
	keys := append(e.presKeys(p.Topic, life), e.keys.presLostTaken(p.Topic), e.keys.presLostTerms(p.Topic))
	if !e.shards.on() {
		keys = append(keys, e.keys.presTopics(life))
	}
	watch := ""
	if e.members.Load() != nil {
		watch = "1"
	}
	res, err := e.pubs.run(ctx, e.rdb, addPresenceScript, keys,
		p.Session, life, p.User, string(p.Info), classic, sharded, p.Topic, watch, e.logKeep.Load())
	e.membersChanged(res)
	return res, err
}

// runRemove runs the remove script for p as life.
func (e *Engine) runRemove(ctx context.Context, p broker.PresenceEntry, life string) error {
	classic, sharded := e.presenceChannels(p.Topic)
	res, err := e.pubs.run(ctx, e.rdb, removePresenceScript, e.presKeys(p.Topic, life),
		p.Session, classic, sharded, p.Topic, e.logKeep.Load())
	e.membersChanged(res)
	return err
}

// undoAdd removes, when it can, what an add that failed may have recorded
// anyway (its reply was lost): the node will not remove it otherwise. What
// it cannot remove is removed again with the node's other leftovers.
func (e *Engine) undoAdd(p broker.PresenceEntry, life string) {
	ctx, cancel := context.WithTimeout(e.runCtx, e.cfg.Timeout)
	defer cancel()
	if err := e.runRemove(ctx, p, life); err != nil {
		e.pres.retryLater(p)
	}
}

// RemovePresence removes the entry of p.Topic and p.Session from Redis;
// the last session of its user there publishes the leave. When Redis
// cannot be reached the entry is removed later, by this node or, should
// it die first, by the others.
func (e *Engine) RemovePresence(ctx context.Context, p broker.PresenceEntry) error {
	if err := broker.CheckTopic(p.Topic); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	unlock, err := e.pres.enter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	life := e.pres.drop(p)
	if err := e.runRemove(ctx, p, life); err != nil {
		e.pres.retryLater(p)
		return e.fail("remove presence", err)
	}
	return nil
}

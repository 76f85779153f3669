package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// Subscribe starts delivery of pattern's messages to this node. It returns
// once Redis confirmed the subscription, so every message published after it
// returns reaches the Handler, and for a topic that keeps presence every
// join and leave. For a topic it also reads the topic's position and, if
// it keeps presence, where its presence change log ends, where delivery
// goes on from. An unreachable Redis fails it with an unavailable error
// and nothing done. Calls for one pattern, Unsubscribe's included, must
// not overlap, as the broker's do not (on Cluster a topic's waits on its
// master are not under psMu: see subscribeSharded).
//
// On Cluster a topic's subscribe that fails for want of its master (see
// masterWanted) is tried again, after short pauses without psMu, until
// the timeout: right after a failover the slot map still names the dead
// master, and go-redis reads it again only after a failure, at most every
// 200 ms, from whichever node it asks. Measured on a 3-master cluster on
// loopback, a subscribe tried every 20 ms failed so for 64 to 240 ms
// after the replica had taken over.
func (e *Engine) Subscribe(ctx context.Context, pattern string) error {
	if err := broker.CheckPattern(pattern); err != nil {
		return err
	}
	if !e.shards.on() || broker.IsPattern(pattern) {
		return e.subscribeOnce(ctx, pattern)
	}
	deadline := time.Now().Add(e.cfg.Timeout)
	try := func() error { return e.subscribeOnce(ctx, pattern) }
	return e.againForMaster(ctx, deadline, try(), masterWanted, func(error) { e.shards.masterWaits.Add(1) }, try)
}

// againForMaster runs try again after err, with pauses growing from
// minMasterPause to maxMasterPause and no lock held between tries, while
// its error is one retryable accepts (noting each in noted, if not nil)
// and the next pause ends before deadline. It returns the last error.
func (e *Engine) againForMaster(ctx context.Context, deadline time.Time, err error, retryable func(error) bool, noted func(error), try func() error) error {
	pause := backoff{min: minMasterPause, max: maxMasterPause}
	for err != nil && retryable(err) {
		if noted != nil {
			noted(err)
		}
		d := pause.next()
		if time.Now().Add(d).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-e.runCtx.Done():
			return err
		case <-time.After(d):
		}
		err = try()
	}
	return err
}

// The pauses between a topic's subscribes on Cluster while its master is
// wanted: the first gives the slot map read that the failure asked for a
// round trip or two, and they grow to go-redis's 200 ms between reads.
const (
	minMasterPause = 20 * time.Millisecond
	maxMasterPause = 200 * time.Millisecond
)

// masterWanted reports an error by which the master the slot map named
// could not be had (a dial failed, or its connection broke, as when it
// refused a sharded channel with MOVED), or said the slot is not its own
// or has no master now (MOVED, ASK, TRYAGAIN, CLUSTERDOWN): a slot map
// read again may name another, or a replica take over, in a moment. A
// master that does not answer is not one: trying again would cost another
// timeout.
func masterWanted(err error) bool {
	return errors.Is(err, errConnBroken) || (notSent(err) && !errors.Is(err, goredis.ErrClosed)) || slotElsewhere(err)
}

// slotElsewhere reports Redis's refusal of a call for its slot, before
// running any of it: the slot is not the node's (MOVED, ASK), is being
// moved (TRYAGAIN), or the cluster has no master for some slot now
// (CLUSTERDOWN).
func slotElsewhere(err error) bool {
	switch code, _ := refusal(err); code {
	case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return false
}

// subscribeOnce is one try of Subscribe: under psMu, but on Cluster for
// a topic (see subscribeSharded).
func (e *Engine) subscribeOnce(ctx context.Context, pattern string) error {
	if e.shards.on() && !broker.IsPattern(pattern) {
		return e.subscribeSharded(ctx, pattern)
	}
	var dropped *changeMark
	defer func() { dropped.handedOver() }() // once psMu is let go
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if err := e.controlLocked(ctx); err != nil {
		return err
	}
	if e.subs.has(pattern) {
		return nil
	}
	kind, channel := "subscribe", e.keys.channel(pattern)
	if broker.IsPattern(pattern) {
		kind, channel = "psubscribe", e.subs.globs.add(e.keys, pattern)
	}
	e.subs.add(pattern)
	presence := kind == "subscribe" && e.keepsPresence(pattern)
	if presence {
		e.openMark(pattern) // before the subscribe, so that no change slips by
	}
	// A glob other patterns use is subscribed again all the same: Redis's
	// confirmation on the current connection is what says that messages
	// published from now on reach the node.
	var err error
	if kind == "psubscribe" {
		err = e.patternSubscribeLocked(ctx, channel)
	} else {
		err = e.subscribeLocked(ctx, kind, channel)
	}
	if err == nil && kind == "subscribe" {
		var pos broker.Position
		var tail string
		if pos, tail, err = e.startOf(ctx, pattern, presence); err == nil {
			e.startTopic(pattern, pos)
			e.startMark(pattern, tail)
		}
	}
	if err != nil {
		e.subs.remove(pattern) // Redis may keep the (p)subscription; nothing passes the filter
		dropped = e.dropMark(pattern)
		e.subs.globs.remove(pattern)
		e.patternsHeld()
		return err
	}
	return nil
}

// startOf reads where a subscription of topic starts: the topic's
// position, as Position does, and, for a topic that keeps presence,
// where its presence change log ends, in one step.
func (e *Engine) startOf(ctx context.Context, topic string, presence bool) (broker.Position, string, error) {
	by := time.Now().Add(stampWait * e.cfg.Timeout)
	keys := []string{e.keys.meta(topic), e.keys.hist(topic), e.runKeyOf(topic)}
	if presence {
		keys = append(keys, e.keys.presChanges(topic), e.keys.presLogEnd(topic))
	}
	read := func() (any, error) {
		if err := e.stampFirst(ctx, e.rdb, topic, by); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
		return readScript.Run(ctx, e.rdb, keys, newEpoch(), e.cfg.HistoryTTL.Milliseconds(), 0, 0, "+", e.cfg.HistorySize).Result()
	}
	v, err := read()
	if stampOutran(ctx, err) {
		v, err = read()
	}
	if err != nil {
		return broker.Position{}, "", e.fail("read", err)
	}
	if !presence {
		res, err := parseRead(topic, v)
		return res.Position, "", err
	}
	return parseStart(topic, v)
}

// stampFirst has the run keys of the master that c's slot map names for
// topic's slot stamped, if they are due (runstamp_cluster.go), by the
// time by at the latest, before a call of the topic's scripts that is
// then given its whole timeout: the read of where a subscription starts
// (with stampWait timeouts for the stamp), a publish (see Publish). A
// master promoted since the node last sent it a script is due: its first
// script waits for a stamp of all its slots, one script of 5,461 SETs on
// a master of three, which took 26 ms of a subscribe's 27 ms read right
// after a handover here, under the race detector. On a machine busy
// enough to slow that a hundredfold, the read's one timeout no longer
// held it, and the subscribe, the first script to reach that master,
// failed. Off Cluster, or with no master known for the slot, there is
// nothing to do here (the call says why). The script's own hook still
// checks the node before it runs (runstamp_nodes.go): this only has a
// stamp it would find due done first.
func (e *Engine) stampFirst(ctx context.Context, c goredis.UniversalClient, topic string, by time.Time) error {
	cc, ok := c.(*goredis.ClusterClient)
	if !ok {
		return nil
	}
	// The topic itself, which holds no brace (broker.CheckTopic), is in
	// the slot of its keys, whose hash tag it is, and takes no allocation.
	master, err := cc.MasterForKey(ctx, topic)
	if err != nil {
		return nil
	}
	return settleFirst(ctx, master, by)
}

// stampOutran reports err, a call's failure by which a new connection it
// opened ran out of the call's time waiting for the stamp of its master
// (nothing was sent: errStamp), while ctx, the caller's, goes on. A
// master restarted within a check's cover (recheckEvery) is not stamped
// by stampFirst, but on the call's new connection. The stamp goes on, on
// its own budget (slotStamp.stamp), and the failed check has the node
// checked again: a second stampFirst waits for it, with what is left of
// its stampWait timeouts, and the call is sent once more, with its own
// timeout.
func stampOutran(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, errStamp) && errors.Is(err, context.DeadlineExceeded)
}

// stampWait is how many timeouts stampFirst gives a stamp, as readMasters
// gives a read of the slot map.
const stampWait = 3

// keepsPresence reports whether topic may keep presence (see
// Config.KeepsPresence).
func (e *Engine) keepsPresence(topic string) bool {
	return e.cfg.KeepsPresence == nil || e.cfg.KeepsPresence(topic)
}

// controlLocked subscribes the classic connection to the control channel
// unless it is already, so that a node that subscribed anything gets
// every control sent after. psMu must be held.
func (e *Engine) controlLocked(ctx context.Context) error {
	if e.controlOn {
		return nil
	}
	if err := e.markControls(ctx); err != nil {
		return e.fail("control stream", err)
	}
	if err := e.subscribeLocked(ctx, "subscribe", e.keys.control()); err != nil {
		return err
	}
	e.controlOn = true
	return nil
}

// patternSubscribeLocked PSUBSCRIBEs glob and, on Cluster, returns only
// once every node publishes on classic channels too (see patternGate).
// psMu must be held.
func (e *Engine) patternSubscribeLocked(ctx context.Context, glob string) error {
	wait, err := e.holdPatterns(ctx)
	if err != nil {
		return e.fail("psubscribe", err)
	}
	if err := e.subscribeLocked(ctx, "psubscribe", glob); err != nil {
		return err
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return e.fail("psubscribe", ctx.Err())
		}
	}
	return nil
}

// subscribeLocked sends a (p)subscribe and waits for Redis to confirm it.
// psMu must be held.
func (e *Engine) subscribeLocked(ctx context.Context, kind, channel string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	confirmed, err := e.sendSubscribe(ctx, e.ps, kind, channel)
	if err == nil {
		e.psLoop.wake() // the reply comes through the loop, which may be waiting (see loopControl)
		err = e.awaitConfirmed(ctx, e.ps, kind, channel, confirmed, nil)
	}
	if err != nil {
		return e.fail(kind, err)
	}
	return nil
}

// Unsubscribe stops delivery of pattern's messages to this node. It always
// succeeds locally: messages of pattern are dropped from now on, and a Redis
// that missed the unsubscribe command forgets it with the connection.
func (e *Engine) Unsubscribe(ctx context.Context, pattern string) error {
	var dropped *changeMark
	defer func() { dropped.handedOver() }() // once psMu is let go
	e.psMu.Lock()
	defer e.psMu.Unlock()
	if !e.subs.has(pattern) {
		return nil
	}
	e.subs.remove(pattern)
	if !broker.IsPattern(pattern) {
		dropped = e.dropMark(pattern)
	}
	if !broker.IsPattern(pattern) && e.shards.on() {
		e.shardUnsubscribeLocked(ctx, pattern)
		return nil
	}
	if !broker.IsPattern(pattern) {
		e.unsubscribeLocked(ctx, "unsubscribe", e.keys.channel(pattern))
		return nil
	}
	if glob, unused := e.subs.globs.remove(pattern); unused {
		e.unsubscribeLocked(ctx, "punsubscribe", glob)
	}
	e.patternsHeld()
	return nil
}

// unsubscribeLocked sends one unsubscribe command on the current pub/sub
// connection. A failure is only logged: the connection is
// then broken, the probe notices, and its replacement subscribes only to
// what is subscribed then. psMu must be held.
func (e *Engine) unsubscribeLocked(ctx context.Context, kind, channel string) {
	ctx, cancel := e.sharedWrite(ctx)
	defer cancel()
	var err error
	if kind == "punsubscribe" {
		err = e.ps.PUnsubscribe(ctx, channel)
	} else {
		err = e.ps.Unsubscribe(ctx, channel)
	}
	if err != nil {
		e.log.Warn("pub/sub command failed", zap.String("cmd", kind), zap.String("channel", channel),
			zap.Error(fmt.Errorf("herald/redis: %w", err)))
	}
}

// sharedWrite returns the context of a command written to a pub/sub
// connection. go-redis takes the write's deadline from it, and a write
// that misses its deadline breaks the connection, for every channel on
// it. A caller's deadline may be spent already (the broker's is, once a
// closed client's leaves of presence waited out the timeout on a slot
// being migrated), and must not cost the other channels their
// connection: the write gets a timeout of its own.
func (e *Engine) sharedWrite(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
}

package redis

import (
	"context"
	"errors"
	"time"
)

// errConnBroken is watch's answer when the receive loop saw its connection
// fail: go-redis would redial and resubscribe by itself, but messages
// published in between would be lost unnoticed, so the supervisor replaces
// the connection and checks positions instead.
var errConnBroken = errors.New("pub/sub connection broken")

// watch checks every tracked topic and replays the presence change logs,
// then probes the connection and checks the topics with recent traffic
// until a probe fails, the receive loop reports its connection broken, or
// ctx ends; it replays the logs that fall behind meanwhile. The topics a
// check could not read (owed) go into every check until one reads them,
// and a replay that Redis could not answer is tried again at the next
// interval. A shard connection that broke is replaced alone
// (repairShards), and the topics whose master it could not reach are
// homed again at later probe ticks, or once the slot map names a new
// master for them (homeMoved); only the classic connection's failure
// has watch return, for the supervisor to replace every connection.
func (e *Engine) watch(ctx context.Context) error {
	probe := time.NewTicker(e.cfg.ProbeInterval)
	defer probe.Stop()
	check := time.NewTicker(e.cfg.CheckInterval)
	defer check.Stop()
	forget := time.NewTicker(max(e.cfg.HistoryTTL/2, e.cfg.CheckInterval))
	defer forget.Stop()
	mapPoll := time.NewTicker(slotMapPoll)
	defer mapPoll.Stop()
	rounds := newCheckRounds(time.Now()) // before the positions are read
	owed, err := e.checkAll(ctx, e.subs.all())
	if err == nil {
		owed, err = e.catchUpUntracked(ctx, owed) // what the break lost of topics not tracked
	}
	e.noteChecks(owed)
	// The connection replaced may have lost the last joins and leaves
	// before it, which no later one shows: every topic's log is read.
	e.allMarksBehind()
	replayed := false
	if err == nil {
		replayed, err = e.replayChanges(ctx)
	}
	// Topics whose master was out of reach are homed again at probe ticks,
	// backing off while it stays so: each try may wait out the timeout;
	// and at once when the slot map names another master for them.
	rehome := backoff{min: minBackoff, max: e.cfg.BackoffMax}
	var rehomeAt time.Time // zero: no topic waits
	if e.shards.anyUnhomed() {
		rehomeAt = time.Now().Add(rehome.next())
	}
	for {
		if errors.Is(err, errShardBroken) {
			var failed []*topicState
			failed, err = e.repairShards(ctx)
			owed = withOwed(owed, failed)
			if errors.Is(err, errShardBroken) {
				err = nil // another broke meanwhile: the next probe finds it, and it is replaced alone
			}
			rehomeAt = time.Time{}
			if e.shards.anyUnhomed() {
				rehomeAt = time.Now().Add(rehome.next())
			} else {
				rehome.reset()
			}
		}
		if err != nil {
			return err
		}
		var polls <-chan time.Time // while topics wait: the slot map may name their new master
		if !rehomeAt.IsZero() {
			polls = mapPoll.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-polls:
			if e.homeMoved(ctx) {
				err = errShardBroken
			} else {
				e.shards.reloadSlotMap() // for the next poll
			}
		case <-e.psBroken:
			return errConnBroken
		case <-e.shardsBroken:
			if e.shards.anyBroken() { // else replaced since, with every connection
				err = errShardBroken
			}
		case <-e.marks.nudge:
			replayed, err = e.replayChanges(ctx)
		case <-probe.C:
			var res probed
			res, err = e.probe(ctx, nil)
			e.awayLast.Store(&res.unanswered)
			if err == nil && (res.broke || !rehomeAt.IsZero() && time.Now().After(rehomeAt)) {
				err = errShardBroken
			}
		case <-forget.C:
			e.subs.forgetIdle(e.cfg.HistoryTTL+e.cfg.ProbeInterval+e.cfg.Timeout, owed)
		case <-check.C:
			recent := e.subs.recent(rounds.window(time.Now(), e.cfg.CheckInterval))
			owed, err = e.checkAll(ctx, withOwed(recent, owed))
			if err == nil {
				owed, err = e.catchUpUntracked(ctx, owed) // if the last search failed
			}
			e.noteChecks(owed)
			if err == nil && !replayed {
				replayed, err = e.replayChanges(ctx)
			}
		}
	}
}

package redis

import (
	"context"
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Redis replicates asynchronously: a master that dies can take with it the
// last publishes it acknowledged, and the replica that takes over goes on
// from an older seq of the same epoch. Left alone, the next publishes would
// give seqs that publishers and subscribers already had for other messages,
// and a client resuming past them would be told it recovered everything.
// Three things prevent it:
//
//   - The publish script keeps in meta a mark, the seq as the server itself
//     last wrote it, which goes neither to replicas nor to the append-only
//     file, and beside it the run of the server process that wrote it (see
//     publishScript and runstamp.go). A replica that took over, or a
//     server back from its append-only file, finds mark and seq apart; a
//     server back from an RDB snapshot, which holds the mark, finds the
//     run of the process before; either starts the topic a new epoch at
//     its first publish: every failover and restart breaks the epoch of
//     each topic published to afterwards, whether or not it lost anything,
//     since no one can tell.
//   - A node whose subscribers were handed more than Redis now holds sees
//     it (diverged) and starts the topic a new epoch at once (rebaseScript).
//     This covers what mark and run cannot: a master that takes over
//     again with a copy of a topic that came back to it in a full resync
//     (an RDB snapshot holds mark and run, here its own) from a replica
//     that missed its last publishes; and where there is no run (Cluster,
//     or a Redis user refused INFO), a replica whose copy of meta came
//     with its mark in a full resync and saw no publish of the topic
//     since, or a server restarted from a snapshot older than the last
//     publishes.
//   - A node never goes back to an epoch it left (leftEpochs). When
//     failovers follow each other, the server that takes over may hold a
//     copy of a topic from before the last epoch change (a replica that
//     had not resynced since), in an epoch the node's subscribers left:
//     they had its seqs past the copy's for messages the copy lacks, and
//     its next publishes give those seqs to others. With its mark from a
//     full resync (and its run, when the server wrote the copy itself
//     before, or there is none) the publish script sees nothing wrong, and diverged
//     compares seqs within delivery's epoch only. A node that finds a
//     topic in Redis back in an epoch it left starts the topic a new
//     epoch, as for a divergence (rebaseScript), whether a position check
//     or a message shows it the epoch first: the message is dropped, as a
//     late one is, and the check that follows it finds the epoch.
//
// In each case every seq of the old epoch keeps the one message it named, as
// far as anyone was told, and a resume from the old epoch answers
// recovered:false.

// storedPos is a topic's position as the meta hash holds it, with the id of
// its last message ("" when Redis has none, as for a position started by a
// read).
type storedPos struct {
	epoch string
	seq   uint64
	id    string
}

// handedPos is where delivery of a topic stood, and the epochs it had
// left by then.
type handedPos struct {
	storedPos
	left leftEpochs
}

// handed returns where delivery of st stands.
func (st *topicState) handed() handedPos {
	st.mu.Lock()
	defer st.mu.Unlock()
	return handedPos{storedPos{st.epoch, st.last, st.lastID}, st.left}
}

// leftEpochs are the last epochs delivery of a topic left, the latest
// first. Epochs are random names, never started twice, so a topic's
// epoch in Redis only moves on: a message of a left epoch is late, and
// Redis showing one again went back. Two are kept, the second one 16
// bytes of topicState more (one would have taken none: it replaced the
// epoch left last): a server that takes over with a copy of the topic older
// than both missed three of its epoch changes, each a failover or a
// rebase.
type leftEpochs [2]string

func (l *leftEpochs) has(epoch string) bool {
	return epoch != "" && (l[0] == epoch || l[1] == epoch)
}

// push notes that delivery left epoch. It keeps a copy: the epoch a
// message carried shares the bytes of the message's header.
func (l *leftEpochs) push(epoch string) {
	if epoch != "" {
		l[0], l[1] = strings.Clone(epoch), l[0]
	}
}

// diverged reports whether at, a topic's position read in Redis after
// delivery of the topic stood at handed, contradicts it: in the same epoch,
// a seq below the last one handed over, or the same seq naming another
// message. Without a loss a seq only grows, and every message handed over
// was published before at was read.
func diverged(handed, at storedPos) bool {
	if at.epoch != handed.epoch {
		return false
	}
	return at.seq < handed.seq || (at.seq == handed.seq && at.id != "" && handed.id != "" && at.id != handed.id)
}

// rebase runs rebaseScript for topic, found at at, within the timeout,
// and returns the topic's epoch now.
func (e *Engine) rebase(ctx context.Context, topic string, at storedPos) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	return rebaseScript.Run(ctx, e.rdb, []string{e.keys.meta(topic), e.keys.hist(topic), e.runKeyOf(topic)},
		at.epoch, newEpoch(), e.cfg.HistoryTTL.Milliseconds()).Text()
}

// rebaseScript starts a topic a new epoch at seq 0, dropping its stream,
// if its epoch is still the one a node found diverged, or went back to.
// Once a topic's seq went back in an epoch, every later state of that
// epoch is suspect too, so the epoch alone is compared: a node that found
// it diverged while other publishes went on still moves it on, and a
// second node finding the same divergence gets the first one's new epoch.
//
// KEYS: meta, hist, the run key (see runLua). ARGV: the epoch found
// diverged, the new epoch, history TTL (ms). Returns the topic's epoch
// now ("" if it has none: its next publish starts one).
var rebaseScript = goredis.NewScript(runLua + `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[1] then return epoch or '' end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'seq', 0)
mark(0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ARGV[2]
`)

// beginRebaseLocked notes that st's topic is to start a new epoch in
// Redis because this node found at, the topic's position there, diverged
// from delivery's epoch or back in an epoch delivery left, and reports
// whether the caller is to run the rebase (finishRebase), after letting
// st.mu go: the script waits for the topic's master, up to the timeout,
// and st.mu held that long would hold the receive loop that delivers the
// topic's next message, and every other topic of its connection with it.
// Meanwhile delivery hands over nothing more of the epoch found diverged
// (rebasing): once the rebase is through, that epoch is one delivery
// left, whose messages are dropped; should it fail, the next message of
// the epoch handed over reports what was dropped as a gap. A rebase of
// delivery's epoch already under way is not started twice. One Redis
// refused before is told at Debug: the checks try it again as long as
// Redis refuses it, and it was told once. st.mu must be held.
func (e *Engine) beginRebaseLocked(st *topicState, at storedPos) bool {
	same := at.epoch == st.epoch
	if same && st.rebasing {
		return false
	}
	why := "topic's seq went back in Redis (a failover lost acknowledged messages): starting a new epoch"
	if !same {
		why = "topic went back in Redis to an epoch delivery had left (a server with an older copy took over): starting a new epoch"
	}
	if ce := e.log.Check(refusedLevel(st), why); ce != nil {
		ce.Write(zap.String("topic", st.topic), zap.String("epoch", st.epoch),
			zap.Uint64("handed_over", st.last), zap.String("redis_epoch", at.epoch), zap.Uint64("redis_seq", at.seq))
	}
	st.rebasing = same
	return true
}

// refusedLevel is the level of what a rebase of st tells: Warn, or Debug
// once Redis refused one (st.refused), as a master full under noeviction
// after a restart does for as long as it stays full (it refuses the stamp
// the script waits for), while the checks, whose reads need no stamp
// (plainreads.go), find the topic behind and try again at every
// interval. st.mu must be held.
func refusedLevel(st *topicState) zapcore.Level {
	if st.refused {
		return zapcore.DebugLevel
	}
	return zapcore.WarnLevel
}

// rebaseLater runs the rebase beginRebaseLocked asks for in a goroutine
// of its own, for a caller that must not wait for Redis: the receive
// loop. st.mu must be held.
func (e *Engine) rebaseLater(st *topicState, at storedPos) {
	if !e.beginRebaseLocked(st, at) {
		return
	}
	e.wg.Add(1) // the receive loop calling it is counted: Close has not stopped waiting
	go func() {
		defer e.wg.Done()
		e.finishRebase(e.runCtx, st, at, nil)
	}()
}

// finishRebase runs the rebase that beginRebaseLocked began, without
// st.mu, and has delivery go on in the epoch Redis has now: subscribers
// see it on the topic's next message. A Redis that cannot be reached, or
// that shows an epoch delivery left once more, leaves delivery where it
// is; the topic is marked active so that the next check finds the
// divergence again. A rebase is counted (Stats.Rebases) once Redis took
// it, not at each try.
//
// stampRefused (nil: none) is shared by the rebases of one round of
// checks on one master: once one failed for want of the stamp of the
// master's run (errStamp), the others fail with it, untried. While a
// master refuses the stamp (full under noeviction after a restart or a
// failover), each try opened a connection of its own and sent it the
// stamp's reads and its refused write: every topic behind, at every
// check, where one try a master a round tells as much.
func (e *Engine) finishRebase(ctx context.Context, st *topicState, at storedPos, stampRefused *error) {
	var now string
	var err error
	if stampRefused != nil && *stampRefused != nil {
		err = *stampRefused
	} else {
		now, err = e.rebase(ctx, st.topic, at)
		if stampRefused != nil && errors.Is(err, errStamp) {
			*stampRefused = err
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.epoch == at.epoch {
		st.rebasing = false // else delivery went on to another epoch meanwhile, which cleared it
	}
	if err != nil {
		if ce := e.log.Check(refusedLevel(st), "cannot start a new epoch now"); ce != nil {
			ce.Write(zap.String("topic", st.topic), zap.Error(e.fail("rebase", err)))
		}
		st.refused = true
		e.subs.active.note(st)
		return
	}
	e.stats.rebases.Add(1)
	if st.refused {
		st.refused = false
		e.log.Info("a rebase Redis had refused went through", zap.String("topic", st.topic))
	}
	switch {
	case now == "": // the topic expired: its next publish starts an epoch
		now = newEpoch() // never published to, so a message of the old epoch stays dropped
	case now == st.epoch || st.left.has(now): // Redis moved again since at was read
		e.subs.active.note(st)
		return
	}
	e.newEpochLocked(st, now)
}

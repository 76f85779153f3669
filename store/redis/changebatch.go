package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// batchResult is what one batch of a replay came to.
type batchResult struct {
	handed  int   // changes handed over
	failure error // the last read Redis failed, if any
	away    bool  // the round trip ran out of time: Redis (standalone, Sentinel) is away
	conn    error // the probe found a pub/sub connection broken
}

// replayBatch reads the log of each of marks from its mark on, the
// mark's own entry included, the log's end key, and before them its last
// entry, in one pipeline per master (see perMaster; sent again while it
// fails on a dead pooled connection), on connections that need no stamp
// (plainreads.go), and hands over what follows the mark. A mark whose read failed, or whose master is in gone, is added
// to failed; gone gets the masters whose round trip timed out. classic
// is the classic connection's probe channel (see round).
//
// The last entry is where a mark the log lost goes on from (see
// logGoneLocked). It is read first: a change added after it, before the
// read from the mark, has an ID past it, so that it is either in that
// read or read from there later, and never skipped.
//
// A read may break the chain where pub/sub has not delivered yet what
// was published before it: a log that went with its topic's last entry
// took those changes' entries along, and taking the mark past them would
// drop them when they come. So when a read breaks the chain, the batch
// probes the pub/sub connections first: once the probe is back, what was
// published before it has been dispatched.
func (e *Engine) replayBatch(ctx context.Context, marks []*changeMark, failed map[*changeMark]bool, gone away, classic string) batchResult {
	from := make([]markRead, len(marks))
	topics := make([]string, len(marks))
	linkBreaks := e.marks.breaks.Load() // before the reads: a change after them comes over pub/sub unless a link breaks
	for i, m := range marks {
		m.mu.Lock()
		from[i] = markRead{from: m.last, ahead: m.ahead, breaks: linkBreaks}
		m.mu.Unlock()
		topics[i] = m.topic
	}
	masters := e.mastersOf(ctx, topics)
	batch := make([]int, 0, len(marks))
	for i, m := range marks {
		if masters.awayFor(gone, i) {
			failed[m] = true
			continue
		}
		batch = append(batch, i)
	}
	e.marks.logReads.Add(uint64(len(batch)))
	cmds := make([]*goredis.XMessageSliceCmd, len(marks))
	ends := make([]*goredis.StringCmd, len(marks))
	tails := make([]*goredis.XMessageSliceCmd, len(marks))
	whole := e.perMaster(ctx, batch, masters.slot, gone, func(ctx context.Context, idx []int) error {
		err := e.resend(ctx, e.deadConnSends(), "a read of change logs", func() error {
			return e.readPlain(masters.clients[masters.slot[idx[0]]], func(c goredis.Cmdable) error {
				pipe := c.Pipeline()
				for _, i := range idx {
					tails[i] = pipe.XRevRangeN(ctx, e.keys.presChanges(marks[i].topic), "+", "-", 1)
					cmds[i] = pipe.XRangeN(ctx, e.keys.presChanges(marks[i].topic), from[i].from, "+", replayCount)
					ends[i] = pipe.Get(ctx, e.keys.presLogEnd(marks[i].topic))
				}
				_, err := pipe.Exec(ctx) // each read's own error is below
				return err
			})
		})
		if err != nil && (ctx.Err() != nil || timedOut(err)) {
			return err
		}
		return nil
	})
	var res batchResult
	read := make([][]goredis.XMessage, len(marks))
	ok := make([]bool, len(marks))
	breaks := false
	for _, i := range batch {
		m := marks[i]
		err := cmds[i].Err()
		if terr := tails[i].Err(); err == nil {
			err = terr
		}
		if eerr := ends[i].Err(); err == nil && !errors.Is(eerr, goredis.Nil) {
			err = eerr
		}
		if err != nil {
			failed[m] = true
			res.failure = fmt.Errorf("herald/redis: read the change log of %q: %w", m.topic, err)
			continue
		}
		from[i].end, from[i].tail = ends[i].Val(), noChange
		if tail := tails[i].Val(); len(tail) > 0 {
			from[i].tail = tail[0].ID
		}
		read[i], ok[i] = cmds[i].Val(), true
		breaks = breaks || breaksChain(from[i], read[i])
	}
	if res.failure != nil {
		e.stats.failed(res.failure)
		e.reloadOnTrouble()
		res.away = whole != nil
	}
	if breaks {
		probed, err := e.probeFor(ctx, masters, round{away: gone, classic: classic})
		if err != nil {
			res.conn = err
			return res
		}
		// What pub/sub brought of the topics of a master the probe could
		// not be had through may not have come yet: they wait.
		for i, m := range marks {
			if ok[i] && masters.awayFor(probed.away, i) {
				ok[i], failed[m] = false, true
			}
		}
		if probed.broke {
			res.conn = errShardBroken // replaced by the supervisor, and its logs read again
		}
	}
	for i, m := range marks {
		if ok[i] {
			res.handed += e.replayMark(m, from[i], read[i])
		}
	}
	return res
}

// breaksChain reports whether what a read found of a mark's log does not
// go on from the mark: its first change past the mark names another as
// the one before, or the log went after changes past the mark.
func breaksChain(r markRead, read []goredis.XMessage) bool {
	for _, msg := range read {
		if msg.ID != r.from {
			prev, _ := msg.Values["p"].(string)
			return prev != r.from
		}
	}
	return r.end != "" && r.end != r.from
}

package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// scanCount is the COUNT of each SCAN that looks for untracked topics, and
// how many topics' last entries one pipeline reads.
const scanCount = 1000

// catchUpUntracked pays the debt of the breaks of the classic connection
// once it is back: it finds the topics only patterns cover that the node
// does not track and whose last message in history came since their
// catch-up's start, and returns their states, started for a catch-up,
// with those a subscribe started one for since: each is to be checked
// from its epoch's start (owedOf picks what is owed). A search that fails
// is tried again at the next check; one that would ask a master of
// r.away fails at once, costing no timeout. The supervisor runs one at a
// time, beside its other work (watcher.catchUp).
func (e *Engine) catchUpUntracked(ctx context.Context, r round) []*topicState {
	since, gen := e.untracked.owed()
	if since.IsZero() {
		return nil
	}
	pending := e.subs.catchingUp() // started by a subscribe since the last check
	states, err := e.untrackedSince(ctx, r.away)
	if err != nil {
		if e.untracked.failing(e.cfg.CheckInterval + e.cfg.Timeout + clockSlack) {
			e.log.Warn("cannot look for the topics first published while pub/sub was down: what it lost of those not published to since waits", zap.Error(err))
		} else {
			e.log.Debug("cannot look for the topics first published while pub/sub was down now", zap.Error(err))
		}
		return nil
	}
	e.untracked.paid(gen)
	states = append(states, pending...)
	if len(states) > 0 {
		e.log.Info("checking topics first published while pub/sub was down", zap.Int("count", len(states)))
	}
	return states
}

// untrackedSince returns the states, started for a catch-up, of the
// topics the node's patterns cover and it does not track whose last
// message in history is owed; the masters of gone are not asked.
func (e *Engine) untrackedSince(ctx context.Context, gone away) ([]*topicState, error) {
	if e.cfg.HistorySize == 0 || !e.subs.anyPattern() {
		return nil, nil
	}
	topics, err := e.scanUntracked(ctx, gone)
	if err != nil || len(topics) == 0 {
		return nil, err
	}
	var states []*topicState
	for batch := range slices.Chunk(topics, scanCount) {
		found, err := e.startUntracked(ctx, batch)
		if err != nil {
			return nil, err
		}
		states = append(states, found...)
	}
	return states, nil
}

// scanUntracked lists the topics in Redis that a pattern of the node
// covers and it does not track, by their meta keys. On Cluster it scans
// every master (readMasters), in parallel; a master of gone is not waited
// for: the search fails, costing no timeout, and is tried again later.
func (e *Engine) scanUntracked(ctx context.Context, gone away) ([]string, error) {
	match := escapeGlob(e.keys.prefix) + "{*}:meta"
	var mu sync.Mutex
	var topics []string
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			keys, next, err := c.Scan(cctx, cursor, match, scanCount).Result()
			cancel()
			if err != nil {
				return e.fail("scan", err)
			}
			for _, k := range keys {
				if t, ok := e.keys.topicOfMeta(k); ok && e.subs.untracked(t) {
					mu.Lock()
					topics = append(topics, t)
					mu.Unlock()
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if e.shards.cc == nil {
		err := scan(ctx, e.rdb) // before topics is read: scan appends to it
		return topics, err
	}
	masters, err := e.readMasters(ctx)
	if err != nil {
		return nil, fmt.Errorf("herald/redis: read the masters: %w", err)
	}
	errs := make([]error, 0, len(masters))
	var wg sync.WaitGroup
	for addr, m := range masters {
		if gone[addr] {
			errs = append(errs, fmt.Errorf("herald/redis: scan %s: %w", addr, errAway))
			continue
		}
		wg.Go(func() {
			if err := scan(ctx, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(topics) // a key seen on two masters (its slot moved meanwhile) counts once
	return slices.Compact(topics), errors.Join(errs...)
}

// startUntracked reads the epoch and the last history entry of topics and
// starts, for a catch-up, the state of each whose entry is owed.
func (e *Engine) startUntracked(ctx context.Context, topics []string) ([]*topicState, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	epochs := make([]*goredis.StringCmd, len(topics))
	lasts := make([]*goredis.XMessageSliceCmd, len(topics))
	_, _ = e.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error { // each command's error is looked at below
		for i, t := range topics {
			epochs[i] = p.HGet(ctx, e.keys.meta(t), "epoch")
			lasts[i] = p.XRevRangeN(ctx, e.keys.hist(t), "+", "-", 1)
		}
		return nil
	})
	var states []*topicState
	for i, t := range topics {
		for _, err := range []error{epochs[i].Err(), lasts[i].Err()} {
			// A key of another type holds up no other topic; any other
			// failure (CLUSTERDOWN, MOVED, a timeout) has the search
			// tried again, the debt unpaid.
			if err != nil && !errors.Is(err, goredis.Nil) && !goredis.HasErrorPrefix(err, "WRONGTYPE") {
				return nil, e.fail("read last entries", err)
			}
		}
		epoch, entries := epochs[i].Val(), lasts[i].Val()
		if epoch == "" || len(entries) == 0 {
			continue
		}
		since, ok := e.catchUpFrom(t)
		at, _ := entries[0].Values["m"].(string)
		if ms, err := strconv.ParseInt(at, 10, 64); !ok || err != nil || ms < since.UnixMilli() {
			continue
		}
		if st := e.startForCatchUp(t, epoch, since); st != nil {
			states = append(states, st)
		}
	}
	return states, nil
}

// startForCatchUp starts topic's state in epoch for a catch-up from
// since, unless a message of it has started delivery meanwhile.
func (e *Engine) startForCatchUp(topic, epoch string, since time.Time) *topicState {
	st := e.subs.state(topic)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.epoch != "" {
		return nil
	}
	st.epoch, st.last, st.catchUp, st.catchUpEnd = epoch, 0, since.UnixMilli(), 0
	e.subs.active.note(st)
	return st
}

// topicOfMeta returns the topic whose meta key is key.
func (k keys) topicOfMeta(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.prefix+"{")
	if !ok {
		return "", false
	}
	topic, ok := strings.CutSuffix(rest, "}:meta")
	return topic, ok && broker.ValidTopic(topic)
}

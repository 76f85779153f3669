package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// checkBatch is how many topics' positions one pipelined round trip reads.
const checkBatch = 256

// positions reads the position in Redis of each topic of states, in
// batches of checkBatch, each pipelined per master. A topic whose read
// failed has its error in errs. On Cluster a master whose round trip timed
// out is added to gone, and its topics in later batches are not read; with
// one Redis, err says that a round trip timed out, and nothing was read
// past it.
func (e *Engine) positions(ctx context.Context, states []*topicState, m topicMasters, gone away) (out []storedPos, errs []error, err error) {
	out = make([]storedPos, len(states))
	errs = make([]error, len(states))
	batch := make([]int, 0, min(len(states), checkBatch))
	for next := 0; next < len(states); {
		batch = batch[:0]
		for ; next < len(states) && len(batch) < checkBatch; next++ {
			if m.awayFor(gone, next) {
				errs[next] = m.awayErr(states[next].topic, next)
				continue
			}
			batch = append(batch, next)
		}
		if err := e.positionBatch(ctx, states, batch, m, gone, out, errs); err != nil {
			return nil, nil, err
		}
	}
	return out, errs, nil
}

// positionBatch reads the meta hash of the topics of states at batch into
// out (errs), one pipeline per master (see perMaster). Redis answers each
// read on its own: one topic's failure (a key of the wrong type, say) is
// that topic's alone.
func (e *Engine) positionBatch(ctx context.Context, states []*topicState, batch []int, m topicMasters,
	gone away, out []storedPos, errs []error) error {
	return e.perMaster(ctx, batch, m.slot, gone, func(ctx context.Context, idx []int) error {
		return e.readPositions(ctx, m.clients[m.slot[idx[0]]], states, idx, out, errs)
	})
}

// perMaster runs read for the items at batch grouped by their master
// (slot), the masters' in parallel, each within the timeout: a master that
// does not answer holds up no other's. A read returns an error only when
// its round trip timed out: on Cluster its master (noMaster included) is
// added to gone; with one Redis the error is returned, as every other read
// would wait as long.
func (e *Engine) perMaster(ctx context.Context, batch []int, slot []string, gone away,
	read func(ctx context.Context, idx []int) error) error {
	groups := make(map[string][]int)
	for _, i := range batch {
		groups[slot[i]] = append(groups[slot[i]], i)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards gone and whole
	var whole error
	for addr, idx := range groups {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			defer cancel()
			if err := read(rctx, idx); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if e.shards.on() {
					gone[addr] = true
				} else {
					whole = err
				}
			}
		})
	}
	wg.Wait()
	return whole
}

// errNoReply is the error of a pipelined read that got neither a reply
// nor an error of its own.
var errNoReply = errors.New("herald/redis: a read got no reply")

// readPositions reads the positions of the topics of states at idx, which
// share master (nil: none known), in one pipeline, on connections that
// need no stamp (plainreads.go), sent again while it fails on a dead
// pooled connection. It returns the error of a round trip that timed
// out, having set it as every topic's. A pipeline whose connection failed
// before it was sent leaves its reads without a reply or an error of
// their own: they take the pipeline's.
func (e *Engine) readPositions(ctx context.Context, master *goredis.Client, states []*topicState, idx []int, out []storedPos, errs []error) error {
	cmds := make([]*goredis.SliceCmd, len(idx))
	err := e.resend(ctx, e.deadConnSends(), "a read of positions", func() error {
		return e.readPlain(master, func(c goredis.Cmdable) error {
			pipe := c.Pipeline()
			for j, i := range idx {
				cmds[j] = pipe.HMGet(ctx, e.keys.meta(states[i].topic), "epoch", "seq", "id")
			}
			_, err := pipe.Exec(ctx) // each read's own error is below
			return err
		})
	})
	pipeErr := err
	if err != nil {
		err = e.fail("check", err) // counted once a pipeline
		pipeErr = err
		if ctx.Err() != nil || timedOut(err) {
			for _, i := range idx {
				errs[i] = fmt.Errorf("herald/redis: read the position of %q: %w", states[i].topic, err)
			}
			return err
		}
	}
	for j, i := range idx {
		v, err := cmds[j].Val(), cmds[j].Err()
		if err == nil && len(v) != 3 {
			err = cmp.Or(pipeErr, errNoReply)
		}
		if err != nil {
			errs[i] = fmt.Errorf("herald/redis: read the position of %q: %w", states[i].topic, err)
			continue
		}
		out[i].epoch, _ = v[0].(string)
		seq, _ := v[1].(string)
		out[i].seq, _ = strconv.ParseUint(seq, 10, 64)
		out[i].id, _ = v[2].(string)
	}
	return nil
}

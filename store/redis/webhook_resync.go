package redis

import (
	"context"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// heldBatch is how many topics one round trip checks against Redis, as
// a pipeline of scripts, while the gate is held. The webhooks' recorders
// wait on the gate for their occupancy reports, and behind those wait
// all their other reports, in buffers of 10,000 in all: checked one
// script a round trip with the gate held throughout, 10,000 topics took
// 0.5-0.65 s here, and a report waited up to 1.3 s; in batches of 256
// the whole check took 0.11-0.2 s and a report waited 8-28 ms at most
// (BENCHMARKS.md, "Webhook topics checked against Redis"). Batches of
// 1,024 made reports wait twice as long, for no gain in the whole.
const heldBatch = 256

// resyncHeldTopics sets Redis right after a reconnect or a failed webhook
// call since the last time; a round that fails is tried again at the next.
//
// It checks every topic as it stood when the resync began, in batches,
// and lets the reports through between batches: a report of a topic not
// checked yet checks it first (checkFirst). So every topic's check comes
// before any change made to it after the resync began, as when the
// reports waited for the whole resync. That is what keeps a topic's
// events in order: a stray topic occupied again before its check would
// find the node still listed and queue no topic_occupied, and a topic
// whose record was lost, vacated before its check, would go without the
// topic_occupied the check queues before its topic_vacated.
func (e *Engine) resyncHeldTopics(ctx context.Context) {
	e.held.run.Lock()
	defer e.held.run.Unlock()
	e.noteWebhooksMaster(ctx)
	now := [2]uint64{e.stats.reconnects.Load(), e.held.troubles.Load()}
	if now == e.held.synced {
		return
	}
	topics, err := e.resyncAll(ctx)
	if err != nil {
		e.log.Warn("webhook topics not checked against Redis; trying again", zap.Error(err))
		return
	}
	e.held.synced = now
	e.log.Info("webhook topics checked against Redis", zap.Int("topics", topics))
}

// noteWebhooksMaster counts it as a trouble when the {webhooks} slot is
// on another master than when it last looked, on Cluster, so that the
// next resync sets Redis right. The slot's keys may have come back older
// than the node left them, with no connection of the node broken nor any
// call failed: redis-cli --cluster fix, finishing a migration of the slot
// cut short by a failover, gives the slot to whichever master holds more
// of its keys, and the other drops its own; so does an operator who hands
// the slot to the master it was moving to, whose copies were MIGRATEd
// before the last changes. A topic the node left since then stays listed
// as held by it, and no topic_vacated is ever queued for it while the
// node lives. A slot moved whole (redis-cli --cluster reshard) or a
// failover costs one resync, which finds Redis right or sets it so. The
// slot map is go-redis's, read again at each redirection and now and then
// (docs/protocol.md section 12), so a round soon after the move sees it.
func (e *Engine) noteWebhooksMaster(ctx context.Context) {
	if !e.shards.on() {
		return
	}
	addr := e.slotMasterOf(ctx, e.keys.webhooks("held:"))
	if addr == "" {
		return
	}
	if e.held.master != "" && addr != e.held.master {
		e.held.troubles.Add(1)
	}
	e.held.master = addr
}

// resyncAll checks every topic each node name holds or Redis lists as
// its, and returns how many it checked itself.
func (e *Engine) resyncAll(ctx context.Context) (int, error) {
	order, err := e.beginResync(ctx)
	if err != nil {
		return 0, err
	}
	checked := 0
	for node, topics := range order {
		for batch := range slices.Chunk(topics, heldBatch) {
			n, err := e.resyncBatch(ctx, node, batch)
			if err != nil {
				return checked, err
			}
			checked += n
			if e.cfg.betweenHeldBatches != nil {
				e.cfg.betweenHeldBatches()
			}
		}
	}
	return checked, nil
}

// beginResync makes the topics each node name holds, and those Redis
// lists as its, unchecked, and returns them by node, sorted. Redis's
// lists are read before the gate is taken, so that the reports do not
// wait for a read of every topic held: a topic listed that the node
// occupied or left since is held, or not, by the time the gate is taken,
// and its check finds Redis right already; a stray one it occupied again
// meanwhile came before the resync began, as one can before any resync.
func (e *Engine) beginResync(ctx context.Context) (map[string][]string, error) {
	nodes := e.held.names()
	cmds := make([]*goredis.MapStringStringCmd, len(nodes))
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	err := e.resend(rctx, e.deadConnSends(), "a read of the webhook topics held", func() error {
		pipe := e.rdb.Pipeline()
		for i, node := range nodes {
			cmds[i] = pipe.HGetAll(rctx, e.keys.webhooks("held:"+node))
		}
		_, err := pipe.Exec(rctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("herald/redis: read the webhook topics held: %w", err)
	}
	listed := make(map[string]map[string]string, len(nodes))
	for i, node := range nodes {
		listed[node] = cmds[i].Val()
	}
	e.held.gate.Lock()
	order := e.held.begin(listed)
	e.held.gate.Unlock()
	for _, topics := range order {
		slices.Sort(topics)
	}
	return order, nil
}

// resyncBatch checks those of topics no report checked meanwhile, in one
// pipeline, and returns how many scripts it ran.
func (e *Engine) resyncBatch(ctx context.Context, node string, topics []string) (int, error) {
	e.held.gate.Lock()
	defer e.held.gate.Unlock()
	taken := make(map[string]listedTopic, len(topics))
	calls := make([]scriptRun, 0, len(topics))
	for _, topic := range topics {
		l, ok := e.held.take(node, topic)
		if !ok {
			continue
		}
		taken[topic] = l
		if call, ok := e.checkCall(node, topic, l); ok {
			calls = append(calls, call)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout+replicaPatience) // runScripts may wait for a replica
	defer cancel()
	if err := e.runScripts(rctx, calls); err != nil {
		e.held.putBack(node, taken)
		return 0, fmt.Errorf("herald/redis: check %d webhook topics of %s: %w", len(calls), node, err)
	}
	return len(calls), nil
}

// scriptRun is one script call of a pipeline.
type scriptRun struct {
	script *goredis.Script
	keys   []string
	args   []any
}

// runScripts runs calls in one pipeline by runConfirmed, sent again while
// it fails on a dead pooled connection (each script checks and sets, so
// one that ran twice changes nothing more), and returns the first error.
func (e *Engine) runScripts(ctx context.Context, calls []scriptRun) error {
	if len(calls) == 0 {
		return nil
	}
	return e.resend(ctx, reportSends, "a batch of webhook topics", func() error {
		_, err := e.runConfirmed(ctx, calls)
		return err
	})
}

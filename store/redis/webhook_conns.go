package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// A webhook report holds the connection its scripts went on while it
// waits for the replica's confirmation (WAIT counts the writes of its own
// connection), up to replicaPatience while the replica does not confirm.
// Borrowed from the pool of the engine's client, the reports api/hooks
// hands over at once (eight recorders and a resync) held as many of its
// connections, ten per CPU by go-redis's default (five on Cluster), and
// the calls that share them (publishes with an idempotency key, history
// reads and resumes, presence; on Cluster those of every topic of the
// {webhooks} master) waited for one, and failed once the pool's wait
// ran out: a replica slow to confirm stalled the node. So the reports go
// through a client of their own, to the same master, whose pool holds
// reportConns connections: a slow replica holds those alone. A cap on
// the reports waiting in the shared pool would bound what they take from
// the other calls, but not leave them all of it, and would hold the
// recorders back one behind the other whenever the replica is slow to
// confirm (one in another region): each recorder's reports already go
// one after another, in order, and a report is sent again until it is
// stored, whatever client it goes through.

// reportConns bounds the connections of the reports' client: one for
// each report api/hooks hands over at once, the eight recorders' and a
// resync's. One more waits for a connection within its deadline, as
// calls wait for one in any pool.
const reportConns = 9

// reportSends is deadConnSends for the reports' pool: one more than its
// idle connections take, two a send, all dead.
const reportSends = reportConns/2 + 2

// reportsPool sizes opt, the options of a client for webhook reports,
// for them: its pipelines go on its own connections too (a dedicated
// pipeline pool would add up to ten).
func reportsPool(opt *goredis.Options) {
	opt.PoolSize, opt.PipelinePoolSize = reportConns, -1
}

// newReportsClient is, on Cluster, the twin of a master's node client that
// webhook reports go through: stamped as the node clients are, with the
// reports' pool.
func (s *slotStamp) newReportsClient(opt *goredis.Options) *goredis.Client {
	reportsPool(opt)
	return s.newNodeClient(opt)
}

// reportsClient is the client webhook reports go to the {webhooks}
// slot's master through, and the func that gives it back, to call once
// done with it: on Cluster the reports' twin of the node client the slot
// map names, elsewhere the engine's reports client, which talks to the
// master (Sentinel's the one it names).
func (e *Engine) reportsClient(ctx context.Context) (*goredis.Client, func(), error) {
	if e.shards.on() {
		node, err := e.shards.cc.MasterForKey(ctx, e.keys.webhooks("events"))
		if err != nil {
			return nil, nil, fmt.Errorf("find the {webhooks} master: %w", err)
		}
		c, giveBack := e.stamps.reporters.lend(node)
		return c, giveBack, nil
	}
	c, ok := e.reports.(*goredis.Client)
	if !ok {
		return nil, nil, fmt.Errorf("herald/redis: the engine's reports client is a %T", e.reports)
	}
	return c, func() {}, nil
}

// reportsMasters is, of masters (the slot map's, as read just now), the
// one whose reports' client is kept: the {webhooks} slot's master. The
// client of a master the slot left (a reshard moved it, the master
// staying one) would keep its connections open, up to reportConns, for
// nothing. When the map names no master of the slot among them, all are
// kept.
func (e *Engine) reportsMasters(ctx context.Context, masters map[string]*goredis.Client) map[string]*goredis.Client {
	node, err := e.shards.cc.MasterForKey(ctx, e.keys.webhooks("events"))
	if err != nil {
		return masters
	}
	addr := node.Options().Addr
	if c, ok := masters[addr]; ok {
		return map[string]*goredis.Client{addr: c}
	}
	return masters
}

package redis

import (
	"errors"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// twins are, on Cluster, the clients of the masters, one per address,
// whose connections skip the run key's stamp: the twins of the node
// clients go-redis keeps. The sharded pub/sub connections to a master
// come from its twin, as they run no script, and a master full under
// noeviction after a restart refuses the stamp (see newClients); so do
// the probes, and the reads that find what pub/sub lost (plainreads.go).
//
// Each holds a pool and a pub/sub pool. go-redis v9 closes an idle
// connection of a pool only when it takes it again after
// ConnMaxIdleTime: it has no reaper, and takes the newest first. So a
// shorter ConnMaxIdleTime than its 30 minutes would close none of the
// connections a twin keeps idle, only have the next call that finds one
// past it dial again: it is left as the node clients have it. What
// bounds them is closing twins no one needs. A twin is made at the first
// lend for its address, and closed once the slot map read last
// (readMasters) names no master there and no lend of it is out (its
// uses): after a failover, the master's address is a replica's, or gone,
// and after a node moved to another port, its old address is no one's.
// Kept until the engine closed, as they were, their number grew with
// every address that was ever a master, each with the connections it
// last had open. A twin is never closed under a call that went out on
// it, which would fail as "client is closed", nor under a shard's
// connection: both hold a lend until done. A master back at an address
// whose twin was closed (a restart, a failover back) gets a new one at
// its next lend.
//
// The clients webhook reports go through (webhook_conns.go) are twins
// too, kept apart from these: stamped, with a small pool of their own,
// and kept for the {webhooks} slot's master alone (reportsMasters).
type twins struct {
	mu     sync.Mutex
	by     map[string]*twin // by master address
	closed bool             // the engine closed them all: lend makes none
	// build makes a master's twin from a copy of its node client's options.
	build func(opt *goredis.Options) *goredis.Client
}

// newTwins keeps the twins build makes.
func newTwins(build func(opt *goredis.Options) *goredis.Client) twins {
	return twins{by: map[string]*twin{}, build: build}
}

// newUnstampedTwin builds a master's twin whose connections skip the stamp.
func newUnstampedTwin(opt *goredis.Options) *goredis.Client {
	opt.OnConnect = nil
	return goredis.NewClient(opt)
}

// twin is one master's twin client.
type twin struct {
	client *goredis.Client
	uses   int  // lends not given back; twins.mu guards it
	away   bool // the slot map read last names no master at its address; twins.mu guards it
}

// lend returns the twin of node, a node client of the Cluster client (a
// master's, as the slot map names it), and the func that gives it back,
// to call once, when done with it. The twin is not closed before then.
// Once the engine closed its twins, it returns node, closed too.
func (t *twins) lend(node *goredis.Client) (*goredis.Client, func()) {
	return t.lendAt(node.Options().Addr, node)
}

// lendAt is lend for the master at addr, whose twin, if none is kept
// there, is made from the options of like, a client of another node of
// the Cluster (see movedTo). Once the engine closed its twins, it returns
// like, closed too, when like is at addr, and nil otherwise.
func (t *twins) lendAt(addr string, like *goredis.Client) (*goredis.Client, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		if like.Options().Addr != addr {
			return nil, func() {}
		}
		return like, func() {}
	}
	tw := t.by[addr]
	if tw == nil {
		opt := *like.Options()
		opt.Addr = addr
		tw = &twin{client: t.build(&opt)}
		t.by[addr] = tw
	}
	tw.uses++
	return tw.client, func() { t.giveBack(addr, tw) }
}

// giveBack ends a lend of tw, the twin at addr, and closes it if it was
// the last lend out of a twin whose address is no master's.
func (t *twins) giveBack(addr string, tw *twin) {
	t.mu.Lock()
	tw.uses--
	idle := tw.uses == 0 && tw.away && t.by[addr] == tw
	if idle {
		delete(t.by, addr)
	}
	t.mu.Unlock()
	if idle {
		_ = tw.client.Close()
	}
}

// keepOnly closes the twins of addresses masters, the slot map as read
// just now, names no master at, that no lend holds; the others close
// once their last lend is given back, unless a read names a master there
// again first. Only a read says where the masters are: a lend may come
// from a read by a slot map not current yet, or from the probe of a shard
// whose master has just handed its slots over (Redis unsubscribes the
// shard then, and it is replaced on the new master: see onSlotMaster).
func (t *twins) keepOnly(masters map[string]*goredis.Client) {
	var idle []*goredis.Client
	t.mu.Lock()
	for addr, tw := range t.by {
		_, master := masters[addr]
		tw.away = !master
		if tw.away && tw.uses == 0 {
			delete(t.by, addr)
			idle = append(idle, tw.client)
		}
	}
	t.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

// close closes every twin, lent or not: the engine is closing.
func (t *twins) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for addr, tw := range t.by {
		errs = append(errs, tw.client.Close())
		delete(t.by, addr)
	}
	return errors.Join(errs...)
}

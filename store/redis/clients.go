package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// clusterReload is how old a Cluster client's slot map may get while
// commands go through it; go-redis's default is a minute. A map that names
// a dead master is also reloaded at once when a call fails (see
// Engine.reloadOnTrouble); this bounds what a failover that no call of ours
// noticed costs: a CLUSTER SLOTS every few seconds per client.
const clusterReload = 5 * time.Second

// maxDialTimeout bounds dialTimeout: a Redis on a network Herald should
// use connects and shakes hands in milliseconds, so a longer wait would
// only put off the answer.
const maxDialTimeout = time.Second

// dialTimeout is how long connecting to a Redis server may take, the TLS
// handshake included, for calls bounded by timeout: half of it, at most
// maxDialTimeout. go-redis dials on a goroutine of its own, within its
// dial timeout alone, while the call that wants the connection waits
// until its deadline: a dial as long as the call would end with it, and
// the call would only know that it timed out. Ending first, the dial's
// own failure reaches the call, which can then tell (see newDialer) that
// nothing was sent: a rediss:// URL that names a plain port, whose
// handshake never ends, answers publishes "nothing was published", and
// /readyz names the handshake, within a second.
func dialTimeout(timeout time.Duration) time.Duration {
	return min(timeout/2, maxDialTimeout)
}

// newClients builds the engine's two clients for u's mode: rdb, and its
// twin once that never sends a call twice, for publishes that must not run
// twice. go-redis retries a call whose reply timed out or whose connection
// broke after it was written, and a Cluster client also retries on another
// node; once does neither, so a MOVED reply reaches the engine as a refusal
// (nothing ran) instead of being followed. Off Cluster every connection
// of both runs stamp first (see runstamp.go); on Cluster, the clients of
// the nodes are made by node, which stamps them (runstamp_nodes.go).
//
// reports is the client webhook reports go through (webhook_conns.go):
// off Cluster a twin with the stamp and a small pool of its own; on
// Cluster nil, the reports going through twins of the node clients.
//
// pubsub opens the pub/sub connections: off Cluster a third twin, whose
// connections skip the stamp, as they run no script. A Redis full under
// noeviction refuses the stamp's SET once its run key names another
// process (after a restart): the connections that run scripts must not
// serve then, but delivery goes on without them. The twin's own pool
// serves only the probes' PUBLISHes (see classicLeg), which run no
// script either, and the reads that find what pub/sub lost, which read
// nothing the stamp writes (plainreads.go). On Cluster pubsub
// is rdb, whose node clients give the classic connection the stamp too
// (a client of its own would keep a slot map of its own); the sharded
// ones come from twins of the node clients (twins.go).
func newClients(u parsedURL, timeout time.Duration, stamp func(context.Context, *goredis.Conn) error,
	node func(*goredis.Options) *goredis.Client,
) (rdb, once, pubsub, reports goredis.UniversalClient) {
	dial := dialTimeout(timeout)
	switch u.mode {
	case sentinel:
		o := *u.failover
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, timeout, timeout
		o.MaxRetries, o.DialerRetries, o.DisableIdentity = 1, 1, true
		o.Dialer = newDialer(dial, o.TLSConfig)
		o.OnConnect = stamp // sentinels' connections run it too: it leaves them alone
		oo, ps, ro := o, o, o
		oo.MaxRetries = -1
		ps.OnConnect = nil
		ro.PoolSize, ro.PipelinePoolSize = reportConns, -1 // as reportsPool
		return goredis.NewFailoverClient(&o), goredis.NewFailoverClient(&oo), goredis.NewFailoverClient(&ps),
			goredis.NewFailoverClient(&ro)
	case cluster:
		o := *u.cluster
		o.MaintNotificationsConfig = noMaintNotifications()
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, timeout, timeout
		o.MaxRetries, o.DialerRetries, o.DisableIdentity = 1, 1, true
		o.ClusterStateReloadInterval = clusterReload
		o.Dialer = newDialer(dial, o.TLSConfig)
		o.NewClient = node
		oo := o
		oo.MaxRetries, oo.MaxRedirects = -1, -1
		rdb := goredis.NewClusterClient(&o)
		return rdb, goredis.NewClusterClient(&oo), rdb, nil
	}
	o := *u.single
	o.MaintNotificationsConfig = noMaintNotifications()
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dial, timeout, timeout
	o.MaxRetries = 1    // a call's own retry fits its timeout; the caller retries the rest
	o.DialerRetries = 1 // reconnecting is paced by our backoff, not by dial retries
	o.DisableIdentity = true
	o.Dialer = newDialer(dial, o.TLSConfig)
	o.OnConnect = stamp
	oo, ps, ro := o, o, o
	oo.MaxRetries = -1
	ps.OnConnect = nil
	reportsPool(&ro)
	return goredis.NewClient(&o), goredis.NewClient(&oo), goredis.NewClient(&ps), goredis.NewClient(&ro)
}

// noMaintNotifications turns off go-redis's maintenance notifications
// (hitless upgrades of managed Redis), which Herald's reconnects and
// checks make unneeded: left on "auto", the first connection whose
// handshake Redis refuses (every Redis before 8) writes the mode off
// under its client's lock, while a sticky connection of the same client
// (Client.Conn, the Cluster stamp's check) reads it under its own, a data
// race in go-redis v9.23. Off, the mode is only ever read. Sentinel
// clients have it off already.
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// reloadOnTrouble has Cluster clients read the slot map again after a call
// failed for want of a node: go-redis keeps its map after a master dies and
// would dial the dead one until its next periodic reload. Reloading is
// asynchronous and coalesced by go-redis.
func (e *Engine) reloadOnTrouble() {
	for _, c := range []goredis.UniversalClient{e.rdb, e.once} {
		if cc, ok := c.(*goredis.ClusterClient); ok {
			cc.ReloadState(context.Background())
		}
	}
}

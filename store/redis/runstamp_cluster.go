package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// On Cluster a topic's scripts run on the master of its slot, and reach
// no key another master holds, so the one run key of runstamp.go cannot
// serve: each slot has its own,
// <prefix>run{<tag>}, its tag found to land in the slot (slots.go), and a
// topic's scripts read the one of its slot. It costs the publish script
// what the run key costs it off Cluster (a GET, and the run in meta):
// from 9.5 to 10.1 µs of Redis's time a call (medians of 15 rounds of
// 4,000 publishes pipelined 16 deep over 100 topics, the script with and
// without a run key in turn).
//
// A master's run keys are stamped, all of them at once, by the first
// connection the engine opens to it after it started, or after it was
// promoted from replica: go-redis runs slotStamp.stamp on every
// connection it opens (OnConnect, runstamp_nodes.go), before the
// connection serves anything (a stamp that is due runs on a connection
// of its own, with stampWait timeouts whichever call found it due, and
// the connection waits for it: see stamp). The connection reads INFO (the run_id,
// the role and the replication ID) and asks whether the server holds the
// stamp's marker for its replication ID, a script of its own
// (markerBody) that only a stamp of all slots loads, at its end; a
// server's script cache is its own process's, never replicated nor saved
// in its files since Redis 7.0 (which Cluster needs anyway), so the
// marker says that this very process stamped. It must have stamped in
// its present term as master, which the replication ID names (a replica
// promoted takes a new one): a master that steps down keeps its script
// cache, but as a replica it takes its new master's run keys, and when
// it cannot catch up by the replication stream (a link cut for longer
// than the backlog holds, or a master that wrote what its replica never
// got), the new master's data whole, marks and runs of its topics
// included. Promoted again, with only the marker of its first term, it
// would find a topic's mark, run and run key all the dead master's, and
// give again a seq that master acknowledged and never passed on
// (TestCluster's RejoinedMasterStampsAgain). A master also takes a new
// replication ID when it freed its backlog, after repl-backlog-ttl (an
// hour) without a replica: it is stamped again then, with the run the
// keys hold already, which costs it the 6 ms of a stamp and the slots
// moved in since their epochs (see below). Without the marker, the
// connection reads the slots the master holds (CLUSTER NODES), sets the
// run key of every one of them in one script, then loads the marker; a
// stamp that failed loads none, and the next connection stamps again.
// Stamping the 5,461 slots of a master of three took 6 ms here, nearly
// all of it Redis's time, during which the master serves nothing else
// (redis-server 7.0, loopback, medians of 11 in three rounds; 11 to 14
// ms under the race detector), where a pipeline of SETs took 7.5 to 8 ms
// (2 ms of Redis's time, but 25 to 28 ms under the race detector, and
// the stamp must fit in the timeout of the command that opened the
// connection); the keys take about 0.8 MB of the master's memory. Connections opened together to a
// server wait for one stamp. The check each new connection makes is one
// round trip (INFO and SCRIPT EXISTS pipelined, 27 µs here), as off
// Cluster.
//
// Only a stamp of all slots writes run keys, and it takes the slots the
// master holds then. A slot migrated in afterwards (redis-cli --cluster
// reshard MIGRATEs all its keys) brings its run key along with its
// topics, run and mark and all, which keep agreeing: its topics go on in
// their epochs. A slot that comes without a run key (one no master ever
// stamped) leaves its topics' scripts without a run (runLua), as before
// there were run keys; the next stamp, after a restart or a failover,
// sets it, and its topics start a new epoch then, as all do. What a
// stamp cannot tell from a migration: a slot moved onto a master before
// the engine first stamped it in this term gets its run key stamped
// over, and its topics start a new epoch once, at their next
// publish; so does every slot of a master whose script cache was flushed
// (SCRIPT FLUSH).
//
// A replica serves no script, and its connection is left alone: go-redis
// opens some to read the slot map, from whichever node it asks, and
// closing them would keep it from reading the map when the URL's seeds
// are all replicas. But a replica promoted keeps them, and go-redis sends
// its commands on them, unstamped: its scripts would read the run keys
// its old master stamped, and once a new connection stamped, each topic
// published to meanwhile would start a second new epoch, the messages of
// the first lost to history (TestCluster's PublishesRightAfterTakeover).
// So a node whose connection found a replica is checked again before its
// next script, on any connection, and any node before its scripts once
// a second (runstamp_nodes.go): a master back from a term as a replica
// is served so on the connections of its first term.
//
// A master's stamps go on to its replicas, and a master that restarts
// keeps the ones its files held: neither is this process's, as the
// marker is not in either.

// slotStamp keeps the run keys of every Cluster master the engine
// connects to.
type slotStamp struct {
	runStamp // key names the run keys in its log lines
	keys     keys

	budget    time.Duration // what a stamp of all slots is given, whoever found it due: stampWait timeouts
	mu        sync.Mutex
	busy      map[string]*stampJob // runs this node is stamping
	jobs      sync.WaitGroup       // the stamps under way (stampLater)
	life      context.Context      // ends the stamps under way: the engine is closing
	end       context.CancelFunc   // ends life
	slowed    atomic.Int64         // tests: nanoseconds each stamp of all slots waits before its writes, as on a busy machine
	twins     twins                // the masters' clients without the stamp (twins.go)
	reporters twins                // the masters' clients for webhook reports (webhook_conns.go)
}

// stampJob is a stamp of all of a server's slots under way: done is
// closed once it ended, err (nil: stamped) set first.
type stampJob struct {
	done chan struct{}
	err  error
}

func newSlotStamp(k keys, log *zap.Logger, timeout time.Duration) *slotStamp {
	s := &slotStamp{runStamp: runStamp{key: k.prefix + "run{<slot>}", log: log}, keys: k, budget: stampWait * timeout,
		busy: map[string]*stampJob{}, twins: newTwins(newUnstampedTwin)}
	s.life, s.end = context.WithCancel(context.Background())
	s.reporters = newTwins(s.newReportsClient)
	return s
}

// markerBody is the script a server holds once it stamped the run keys
// of all its slots under k's prefix in its term as master replid: each
// prefix and term has its own.
func markerBody(k keys, replid string) string {
	return "-- herald: the run key of each slot under " + hex.EncodeToString([]byte(k.prefix)) +
		" names this process, master since replication ID " + replid + "\nreturn 1"
}

// markerSHA is the SHA1 of markerBody(s.keys, replid), as SCRIPT EXISTS
// takes it.
func (s *slotStamp) markerSHA(replid string) string {
	sum := sha1.Sum([]byte(markerBody(s.keys, replid)))
	return hex.EncodeToString(sum[:])
}

// stamp has the run keys of every slot cn's server masters stamped,
// unless the server did so already in its current term (term keeps the
// one cn's node, whose client is node, was last found in), and reports a
// server that is a replica. The stamp runs on a connection of its own,
// with a budget of its own (stampLater), and the callers that found it
// due wait for it, each until its own context ends: a stamp run on the
// connection, in the time of the call that happened to find it due,
// failed with that call, which a busy machine can make take longer than
// one timeout: a publish right after a restart, within a check's cover
// (recheckEvery), or any script of a caller that has only its one
// timeout (a heartbeat, a rebase); and, abandoned, it was begun again by
// the next call, in its time, as long as no caller with more came.
func (s *slotStamp) stamp(ctx context.Context, cn *goredis.Conn, term *atomic.Pointer[string], node *goredis.Client) (replica bool, err error) {
	run, _, replica, done, err := s.check(ctx, cn, term)
	if err != nil || done {
		return replica, err
	}
	job, mine := s.claim(run)
	if mine {
		s.stampLater(node, run, job, term)
	}
	select {
	case <-job.done:
		return false, job.err
	case <-ctx.Done():
		return false, fmt.Errorf("%w: waiting for the stamp: %w", errStamp, ctx.Err())
	}
}

// stampLater runs job, the stamp of run's server, node's, on a
// connection of node's twin (whose connections skip the stamp), within
// the stamp's budget, whoever waits for it, and ends job then. The
// server is checked again on that connection: it must still be run, in
// its term as master.
func (s *slotStamp) stampLater(node *goredis.Client, run string, job *stampJob, term *atomic.Pointer[string]) {
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer s.release(run, job)
		ctx, cancel := context.WithTimeout(s.life, s.budget)
		defer cancel()
		twin, giveBack := s.twins.lend(node)
		defer giveBack()
		cn := twin.Conn()
		defer cn.Close()
		now, replid, replica, done, err := s.check(ctx, cn, term)
		switch {
		case err != nil:
			job.err = err
		case replica || (!done && now != run):
			job.err = fmt.Errorf("%w: the server is no longer the master found due", errStamp)
		case !done:
			job.err = s.stampAll(ctx, cn, run, replid)
		}
	}()
}

// check reads the server's run and replication ID, and whether it needs
// no stamp: done when it is a replica, holds the marker of its term, or
// cannot be told apart (logged). The marker of the term last seen is
// asked for with INFO, in one round trip; a new term takes a second.
func (s *slotStamp) check(ctx context.Context, cn *goredis.Conn, term *atomic.Pointer[string]) (run, replid string, replica, done bool, err error) {
	guess := ""
	if t := term.Load(); t != nil {
		guess = *t
	}
	var info *goredis.StringCmd
	var marked *goredis.BoolSliceCmd
	_, _ = cn.Pipelined(ctx, func(p goredis.Pipeliner) error {
		info = p.Info(ctx, "server", "replication")
		marked = p.ScriptExists(ctx, s.markerSHA(guess))
		return nil
	})
	text, err := info.Result()
	if err != nil {
		return "", "", false, true, s.failed(cn, "INFO", err)
	}
	if infoField(text, "role") != "master" {
		return "", "", true, true, nil
	}
	run, replid = infoField(text, "run_id"), infoField(text, "master_replid")
	if len(run) < runLen || replid == "" {
		s.cannotTell(cn, errors.New("its INFO names no run_id or master_replid"))
		return "", "", false, true, nil
	}
	if replid != guess {
		seen := replid // not replid itself: the return writes it again
		term.Store(&seen)
		marked = cn.ScriptExists(ctx, s.markerSHA(replid))
	}
	has, err := marked.Result()
	if err != nil {
		return "", "", false, true, s.failed(cn, "SCRIPT EXISTS", err)
	}
	return run[:runLen], replid, false, len(has) == 1 && has[0], nil
}

// claim returns the stamp of run under way, or a new one for the caller
// to start (mine).
func (s *slotStamp) claim(run string) (job *stampJob, mine bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if job, ok := s.busy[run]; ok {
		return job, false
	}
	job = &stampJob{done: make(chan struct{})}
	s.busy[run] = job
	return job, true
}

func (s *slotStamp) release(run string, job *stampJob) {
	s.mu.Lock()
	delete(s.busy, run)
	s.mu.Unlock()
	close(job.done)
}

// stampAll sets the run key of every slot the server masters to run,
// then loads the marker of its term, replid. The keys are set by one script, which Redis 7.0
// lets touch keys of several slots of its server (allow-cross-slot-keys),
// in one step and one round trip: a pipeline of a SET a slot cost the
// engine a Cmder each, 5,461 of them, and under the race detector on a
// busy machine more than a short timeout. A slot that is leaving the
// server is set apart, by a SET that a key already gone refuses with ASK:
// that slot's run key is left to the master it goes to.
func (s *slotStamp) stampAll(ctx context.Context, cn *goredis.Conn, run, replid string) error {
	nodes, err := cn.ClusterNodes(ctx).Result()
	if err != nil {
		return s.failed(cn, "CLUSTER NODES", err)
	}
	slots, leaving, err := ownSlots(nodes)
	if err != nil {
		return fmt.Errorf("%w: CLUSTER NODES: %w", errStamp, err)
	}
	if d := time.Duration(s.slowed.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errStamp, ctx.Err())
		}
	}
	args := make([]any, 1, len(slots)+1)
	args[0] = run
	for _, slot := range slots {
		if !slices.Contains(leaving, slot) {
			args = append(args, s.keys.slotRun(slot))
		}
	}
	if len(args) > 1 {
		if err := stampScript.Run(ctx, cn, []string{args[1].(string)}, args...).Err(); err != nil {
			return s.failed(cn, "EVAL", err)
		}
	}
	for _, slot := range leaving {
		if err := cn.Set(ctx, s.keys.slotRun(slot), run, 0).Err(); err != nil && !movedAway(err) {
			return s.failed(cn, "SET", err)
		}
	}
	if err := cn.ScriptLoad(ctx, markerBody(s.keys, replid)).Err(); err != nil {
		return s.failed(cn, "SCRIPT LOAD", err)
	}
	s.log.Info("stamped the run key of each slot of a redis master, restarted or promoted since the engine last did: "+
		"each topic of its slots starts a new epoch at its next publish",
		zap.String("server", cn.String()), zap.String("run", run), zap.Int("slots", len(slots)))
	return nil
}

// stampScript sets the keys ARGV[2..] to ARGV[1]. Redis routes a script
// by its declared keys, which must share a slot whatever its flags: the
// first key to set stands for them all.
//
// KEYS: the first key to set. ARGV: the value, the keys to set.
var stampScript = goredis.NewScript(`#!lua flags=allow-cross-slot-keys
for i = 2, #ARGV do redis.call('SET', ARGV[i], ARGV[1]) end
return #ARGV - 1
`)

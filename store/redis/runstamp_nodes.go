package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// nodeStamp stamps the run keys of one Cluster node (runstamp_cluster.go)
// for the client go-redis keeps of it: each connection the client opens,
// before it serves; and before a script the client sends, on any of its
// connections, when no check found the node a master in its stamped term
// within recheckEvery (a connection found it a replica: none did since).
// go-redis sends a node its commands on the connections it opened before
// the node changed roles: a replica's, opened to read the slot map, once
// it is promoted; a master's, kept through its term as a replica, once it
// is promoted again (with data its master passed on to it whole, the
// marks and run keys of that master with it), and no OnConnect runs for
// them. A master gets one round trip more every recheckEvery that it is
// sent scripts, and a clock read and an atomic load per script; other
// commands read no run key and need no check (a replica gets none but
// the slot map's reads).
type nodeStamp struct {
	stamps *slotStamp
	client *goredis.Client
	// sureUntil is when the last check that found the node a master
	// stamped in its term stops counting, in Unix nanoseconds; 0 once a
	// connection found it a replica.
	sureUntil atomic.Int64
	term      atomic.Pointer[string] // the replication ID the node was last found master with
	checking  chan struct{}          // holds a token while a command's check runs
}

// recheckEvery is how long a check that found a node a master stamped in
// its term covers the commands sent to it. A master stepping down to a
// replica, taking its new master's data whole, and taking the slots back
// when that one fails (which takes cluster-node-timeout, or a TAKEOVER
// by hand) all within it would serve the engine a second longer without
// a stamp of its new term.
const recheckEvery = time.Second

// newNodeClient is go-redis's NewClient of the Cluster clients: it builds
// the client of one node, opt, with its stamps.
func (s *slotStamp) newNodeClient(opt *goredis.Options) *goredis.Client {
	n := &nodeStamp{stamps: s, checking: make(chan struct{}, 1)}
	opt.OnConnect = n.onConnect
	n.client = goredis.NewClient(opt)
	n.client.AddHook(n)
	return n.client
}

// onConnect is the node's OnConnect: a connection that cannot stamp a
// master fails, closed before it serves, and with it the command that
// opened it.
func (n *nodeStamp) onConnect(ctx context.Context, cn *goredis.Conn) error {
	ctx = context.WithValue(ctx, settling{}, true) // cn's commands go through the hooks too, and stamp already
	replica, err := n.stamps.stamp(ctx, cn, &n.term, n.client)
	n.noteCheck(replica, err)
	return err
}

// settle checks the node, and stamps it if need be, before a command
// goes to it, unless a check covers it (see nodeStamp); its error fails
// the command, not sent. Commands that find the node unchecked together
// wait for one check.
func (n *nodeStamp) settle(ctx context.Context) error {
	if n.sure() || ctx.Value(settling{}) != nil {
		return nil
	}
	select {
	case n.checking <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for another command's check: %w", errStamp, ctx.Err())
	}
	defer func() { <-n.checking }()
	if n.sure() {
		return nil
	}
	ctx = context.WithValue(ctx, settling{}, true) // the stamp's own commands go through the hooks too
	cn := n.client.Conn()
	defer cn.Close()
	replica, err := n.stamps.stamp(ctx, cn, &n.term, n.client)
	n.noteCheck(replica, err)
	return err
}

// sure reports whether a check covers the commands sent to the node now.
func (n *nodeStamp) sure() bool { return time.Now().UnixNano() < n.sureUntil.Load() }

// noteCheck keeps what a check found: a replica, or a master stamped in
// its term (no error). A check that failed covers nothing: the stamp it
// waited for, begun on a new connection of a master restarted within a
// check's cover, may go on past the call (see stamp), and the next
// settleFirst must find the node unchecked, to wait for it on its own
// budget.
func (n *nodeStamp) noteCheck(replica bool, err error) {
	switch {
	case replica || err != nil:
		n.sureUntil.Store(0)
	default:
		n.sureUntil.Store(time.Now().Add(recheckEvery).UnixNano())
	}
}

// settling marks the context of settle's own commands.
type settling struct{}

// runsScript reports whether cmd runs a script, which alone reads the run
// keys: the others need no check, and go through while a master full
// under noeviction refuses the stamp (the probes of the pub/sub
// connections among them).
func runsScript(cmd goredis.Cmder) bool {
	switch cmd.Name() {
	case "evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro":
		return true
	}
	return false
}

func (n *nodeStamp) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (n *nodeStamp) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == settleName { // answered here, never sent: see settleFirst
			err := n.settleBy(ctx, cmd.Args()[1].(*settleCall).by)
			cmd.SetErr(err)
			return err
		}
		if !runsScript(cmd) {
			return next(ctx, cmd)
		}
		if err := n.settle(ctx); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (n *nodeStamp) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if !slices.ContainsFunc(cmds, runsScript) {
			return next(ctx, cmds)
		}
		if err := n.settle(ctx); err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// settleName names the command settleFirst sends: the node client's hook
// answers it itself (ProcessHook), so it never reaches Redis.
const settleName = "herald:settle"

// settleFirst checks, and stamps if need be, the node of master, a node
// client of a Cluster client, as its next script would first (settle),
// but by the time by: a stamp of all slots can then be given a deadline
// of its own, not the one of the script that happens to find it due.
// While a check covers the node it costs no round trip and allocates
// nothing, as every publish calls it.
func settleFirst(ctx context.Context, master *goredis.Client, by time.Time) error {
	call := settleCalls.Get().(*settleCall)
	call.by = by
	err := master.Process(ctx, call.cmd)
	call.cmd.SetErr(nil)
	settleCalls.Put(call)
	return err
}

// settleCall is settleFirst's command, whose second argument is the
// call itself, for the hook to find its deadline. The hook answers it and
// never passes it on, so one can be used again.
type settleCall struct {
	by  time.Time
	cmd *goredis.Cmd
}

var settleCalls = sync.Pool{New: func() any {
	c := &settleCall{}
	c.cmd = goredis.NewCmd(context.Background(), settleName, c)
	return c
}}

// settleBy is settle by the time by, which bounds the stamp alone when
// one is due: settleFirst's callers give it a deadline of its own. The
// context is made only then, as a check mostly covers the node.
func (n *nodeStamp) settleBy(ctx context.Context, by time.Time) error {
	if n.sure() {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, by)
	defer cancel()
	return n.settle(ctx)
}

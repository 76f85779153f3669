package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis replicates asynchronously: a write the {webhooks} master took and
// answered can die with it, and the node, told it was stored, never sends
// it again (a member_removed, a client_disconnected, a topic_occupied
// queued in the master's last moments was then never sent). So a webhook
// report counts as stored only once a replica holds it too: its scripts
// go on one connection (one of the reports' own, webhook_conns.go) and
// are followed on it by WAIT 1, which counts the writes of the
// connection that sends it (on another connection it would say nothing
// of them). A master that dies before its replica
// confirmed breaks the connection, the call fails, and the node sends the
// report again (api/hooks keep), to the master that took over. Such a
// report may then be queued twice, which at least once allows: the
// occupancy scripts find a topic's holders as the first call left them,
// and the sender leaves out a member or occupancy event that says what
// the last one sent of it said (api/hooks webhook_repeats.go).
//
// A master with no replica is not waited for (WAIT would only wait its
// timeout out), and a replica that does not confirm within
// replicaPatience is not waited for either until it confirms again
// (docs/protocol.md section 11 says what a failover may then lose: the
// replica and the master failing together).
const (
	// replicaPatience bounds how long a report waits for a replica's
	// confirmation before it is taken without one: a Sentinel or Cluster
	// fails over a master in seconds, and a report in flight when its
	// master dies fails then and goes to the new one; past it, a replica
	// that does not confirm (stalled, or its link cut) is late, and the
	// reports behind would all wait as long.
	replicaPatience = 2 * time.Second
	// lateReplicaWait is the wait of a report while the replica is late:
	// enough for a replica on the same network to confirm, so that the
	// first report it confirms ends the lateness; one farther away ends
	// it by what ROLE says it acknowledged (keptUp).
	lateReplicaWait = 10 * time.Millisecond
	// replicasFresh is how long the master's count of its replicas is
	// trusted (one ROLE a second at most).
	replicasFresh = time.Second
)

// replicaWatch is what the engine knows of the {webhooks} master's
// replicas.
type replicaWatch struct {
	mu     sync.Mutex
	master *goredis.Client // the client the count was read through
	role   masterRole      // what it said then
	readAt time.Time
	stale  bool // read the count again at the next report
	late   bool // a report was taken unconfirmed, and none confirmed since
	// lateAck is, while late, the replicas' acknowledged offset at the
	// first read of the role since; -1 until then (keptUp).
	lateAck int64
	noWait  *goredis.Client // a master whose Redis user is refused WAIT
}

// replicas is the count of the replicas of the master c talks to, read
// again when older than replicasFresh.
func (e *Engine) replicas(ctx context.Context, c *goredis.Client) (int, error) {
	w := &e.repl
	w.mu.Lock()
	if w.master == c && !w.stale && time.Since(w.readAt) < replicasFresh {
		defer w.mu.Unlock()
		return w.role.replicas, nil
	}
	w.mu.Unlock()
	role, err := readRole(ctx, c)
	var reply goredis.Error
	switch {
	case errors.As(err, &reply) && !notSent(err):
		role = masterRole{} // ROLE refused (an ACL): WAIT may be too, so none is waited for
	case err != nil:
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.noWait == c {
		role.replicas = 0 // see waitRefused
	}
	if w.late && e.keptUp(c, role) {
		w.late = false
		e.log.Info("the {webhooks} master's replica keeps up again; webhook reports wait for its confirmation again")
	}
	w.master, w.role, w.readAt, w.stale = c, role, time.Now(), false
	return role.replicas, nil
}

// firstWait is the WAIT sent with a report's scripts, and whether the
// replica is late. It goes in their pipeline, whose replies are read
// within the client's read timeout, so it is well under it.
func (e *Engine) firstWait() (time.Duration, bool) {
	w := &e.repl
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.late {
		return lateReplicaWait, true
	}
	return e.waitSlice(replicaPatience), false
}

// waitSlice is how long one WAIT of a report waits for the replica, at
// most left: a quarter of the Timeout, as the first one (firstWait), so
// that Redis answers well within the client's read timeout. go-redis's
// own Wait reads its reply for its timeout plus 10 s, whatever the
// call's deadline (the clients' context timeouts are off): a master that
// froze (a stopped process, a stuck host) then held the call some 12 s,
// where every blocking call must end by its deadline.
func (e *Engine) waitSlice(left time.Duration) time.Duration {
	return max(min(left, e.cfg.Timeout/4), time.Millisecond)
}

// noteConfirmed records whether a replica confirmed a report, logging
// when that changes.
func (e *Engine) noteConfirmed(confirmed bool) {
	w := &e.repl
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case confirmed && w.late:
		e.log.Info("the {webhooks} master's replica confirms webhook reports again")
	case !confirmed && !w.late:
		w.stale, w.lateAck = true, -1 // the replica may have left: count again
		e.log.Warn("the {webhooks} master's replica did not confirm a webhook report; reports are taken without its confirmation until it does",
			zap.Duration("waited", replicaPatience))
	}
	w.late = !confirmed
}

// runConfirmed runs calls on one connection of the reports' client to
// the {webhooks} master (webhook_conns.go) and returns once a replica
// holds what they wrote (see replicaPatience), or the master has none. Calls that Redis answered NOSCRIPT are sent again
// by EVAL. An error may come after the calls ran: each call must be one
// that can run twice.
func (e *Engine) runConfirmed(ctx context.Context, calls []scriptRun) ([]*goredis.Cmd, error) {
	c, giveBack, err := e.reportsClient(ctx)
	if err != nil {
		return nil, err
	}
	defer giveBack()
	replicas, err := e.replicas(ctx, c)
	if err != nil {
		return nil, err
	}
	if replicas == 0 && len(calls) == 1 {
		cmd := calls[0].script.Run(ctx, c, calls[0].keys, calls[0].args...)
		return []*goredis.Cmd{cmd}, cmd.Err()
	}
	if replicas == 0 {
		cmds, _, err := runPipelined(ctx, c, calls, 0)
		return cmds, err
	}
	start := time.Now()
	conn := c.Conn() // WAIT counts the writes of its own connection
	defer conn.Close()
	wait, late := e.firstWait()
	cmds, confirmed, err := runPipelined(ctx, conn, calls, wait)
	if errors.Is(err, errWaitRefused) {
		e.waitRefused(c, err)
		return cmds, nil // the calls ran: failed, the report would be queued again, every time
	}
	if err != nil {
		return cmds, err
	}
	for confirmed == 0 && !late {
		left := replicaPatience - time.Since(start)
		if left <= 0 {
			break
		}
		// Each WAIT's reply is read within the client's read timeout (the
		// Timeout), which the call's deadline must leave room for: a
		// master that freezes holds the call no longer than that.
		if d, ok := ctx.Deadline(); ok && time.Until(d) < max(left, e.cfg.Timeout) {
			return cmds, errors.New("herald/redis: no replica of the {webhooks} master confirmed the write within the call's time")
		}
		if confirmed, err = conn.Do(ctx, "WAIT", 1, e.waitSlice(left).Milliseconds()).Int64(); err != nil {
			return cmds, fmt.Errorf("wait for a replica of the {webhooks} master: %w", err)
		}
	}
	e.noteConfirmed(confirmed > 0)
	return cmds, nil
}

// pipeliner is a client or one of its connections.
type pipeliner interface{ Pipeline() goredis.Pipeliner }

// runPipelined sends calls through p in one pipeline, followed by WAIT 1
// wait when wait is not 0, and again by EVAL those Redis answered
// NOSCRIPT, and returns the replicas WAIT counted.
func runPipelined(ctx context.Context, p pipeliner, calls []scriptRun, wait time.Duration) ([]*goredis.Cmd, int64, error) {
	cmds := make([]*goredis.Cmd, len(calls))
	var waited *goredis.Cmd
	pipe := p.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if wait > 0 {
		waited = pipe.Do(ctx, "WAIT", 1, wait.Milliseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		pipe = p.Pipeline()
		for i, c := range calls {
			if noScript(cmds[i].Err()) {
				cmds[i] = c.script.Eval(ctx, pipe, c.keys, c.args...)
			}
		}
		if wait > 0 && pipe.Len() > 0 {
			waited = pipe.Do(ctx, "WAIT", 1, wait.Milliseconds())
		}
		_, _ = pipe.Exec(ctx) // an empty pipeline sends nothing
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return cmds, 0, err
		}
	}
	if waited == nil {
		return cmds, 0, nil
	}
	n, err := waited.Int64()
	if reply := goredis.Error(nil); errors.As(err, &reply) {
		err = fmt.Errorf("%w: %w", errWaitRefused, err)
	}
	return cmds, n, err
}

// errWaitRefused is Redis's answer to a WAIT sent after calls that ran.
var errWaitRefused = errors.New("herald/redis: WAIT refused")

// waitRefused has the master c talks to, whose Redis user is refused
// WAIT (an ACL, or a proxy that does not know it), taken for one without
// replicas from now on, as one refused ROLE is.
func (e *Engine) waitRefused(c *goredis.Client, err error) {
	w := &e.repl
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.noWait != c {
		e.log.Warn("the {webhooks} master refuses WAIT: webhook reports are taken without a replica's confirmation", zap.Error(err))
	}
	w.noWait, w.master, w.role, w.readAt, w.stale = c, c, masterRole{}, time.Now(), false
}

// runWebhook runs one script of a webhook report by runConfirmed, again
// while it fails on a dead pooled connection.
func (e *Engine) runWebhook(ctx context.Context, script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	var cmds []*goredis.Cmd
	err := e.resend(ctx, reportSends, "a webhook report", func() (err error) {
		cmds, err = e.runConfirmed(ctx, []scriptRun{{script, keys, args}})
		return err
	})
	if err != nil {
		cmd := goredis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return cmds[0]
}

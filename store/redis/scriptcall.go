package redis

import (
	"context"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A scriptCall is one call waiting for its reply. Its states move under its
// batcher's mu: queued, then sent by the sender or withdrawn by its caller.
type scriptCall struct {
	script *goredis.Script
	args   []any // the whole EVALSHA command: name, SHA, key count, keys, arguments
	nkeys  int
	state  callState
	cmd    *goredis.Cmd // while in a pipeline

	reply string
	err   error
	done  chan struct{} // one value once reply and err are set

	// Kept with the call from one use to the next: args' array, what a
	// publish's arguments point to (publishArgs), and the timer of its
	// deadline while it waits (nil until it first waits with one).
	argv  [17]any
	pub   publishArgs
	timer *time.Timer
}

type callState uint8

const (
	queued callState = iota
	sent
	withdrawn
)

// callPool keeps calls with their channels. A call goes back only from a
// caller that got its reply; one its caller left is the sender's still.
var callPool = sync.Pool{New: func() any { return &scriptCall{done: make(chan struct{}, 1)} }}

// startTimer starts c's timer to fire after d, and returns its channel.
func (c *scriptCall) startTimer(d time.Duration) <-chan time.Time {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d) // stopped, and no value left in it: see stopTimer
	}
	return c.timer.C
}

// stopTimer stops c's timer. Since Go 1.23 a stopped timer's channel holds
// no value to be received by the next wait.
func (c *scriptCall) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// newCall returns a call with no command set.
func newCall() *scriptCall { return callPool.Get().(*scriptCall) }

func (c *scriptCall) release() {
	clear(c.argv[:])
	c.script, c.args, c.nkeys, c.state, c.cmd = nil, nil, 0, queued, nil
	c.reply, c.err = "", nil
	c.pub.reset()
	callPool.Put(c)
}

// setCommand sets c's command to script's EVALSHA with keys and args, as
// Script.EvalSha builds it.
func (c *scriptCall) setCommand(script *goredis.Script, keys []string, args []any) {
	c.script, c.nkeys = script, len(keys)
	c.args = append(c.argv[:0], "evalsha", script.Hash(), len(keys))
	for _, k := range keys {
		c.args = append(c.args, k)
	}
	c.args = append(c.args, args...)
}

// evalSha returns c's command, ready to send. Its arguments are c's until
// c is released, so the command must be done with by then.
func (c *scriptCall) evalSha(ctx context.Context) *goredis.Cmd {
	cmd := goredis.NewCmd(ctx, c.args...)
	if c.nkeys > 0 {
		cmd.SetFirstKeyPos(3) // a Cluster client sends it to the first key's slot
	}
	return cmd
}

// eval sends c as EVAL, which loads the script, through s (see
// sender.send); a pipeline sends it with its next Exec.
func (c *scriptCall) eval(ctx context.Context, s goredis.Scripter) *goredis.Cmd {
	keys := make([]string, c.nkeys)
	for i, k := range c.args[3 : 3+c.nkeys] {
		keys[i] = argString(k)
	}
	return c.script.Eval(ctx, s, keys, c.args[3+c.nkeys:]...)
}

// argString returns a key argument as a string: keys are given as strings,
// or as pointers to them (publishArgs).
func argString(v any) string {
	if p, ok := v.(*string); ok {
		return *p
	}
	s, _ := v.(string)
	return s
}

// finish hands the call its reply. The sender must not touch c after it.
func (c *scriptCall) finish() {
	c.reply, c.err = c.cmd.Text()
	c.cmd = nil
	c.done <- struct{}{}
}

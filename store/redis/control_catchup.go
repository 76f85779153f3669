package redis

import (
	"context"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// A break of the classic connection loses the controls published while
// it lasts, and a catch-up reads them from the stream once the node is
// subscribed again. Until it has, the controls pub/sub brings are held,
// not handed over: go-redis subscribes a new connection by itself, and
// a control that came on it first would move the cursor past those the
// break lost, which the catch-up would then pass over as handed. A
// catch-up that cannot read the stream (its master is away) is tried
// again at each probe of the supervisor (watcher.controls) until it
// reads it, or until controlCatchUp has passed since the break: the
// controls it could still bring would be too old to act on, and the
// held ones are handed over then, the lost ones with a warning.

// oweControls records a break of the classic connection.
func (e *Engine) oweControls() {
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	e.ctl.breaks++
	if !e.ctl.owed {
		e.ctl.owed, e.ctl.since = true, time.Now()
	}
}

// controlsOwed reports whether a catch-up of the control stream is owed.
func (e *Engine) controlsOwed() bool {
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	return e.ctl.owed
}

// holdControlLocked keeps a control pub/sub brought while a catch-up is
// owed, up to maxControls, the stream's own bound: more would be gone
// from the stream too. ctl.mu must be held.
func (e *Engine) holdControlLocked(payload string) {
	if len(e.ctl.held) < maxControls {
		e.ctl.held = append(e.ctl.held, payload)
	}
}

// catchUpControls pays the debt of the breaks of the classic connection:
// it hands over the controls the stream holds past the last one handed
// over, younger than controlCatchUp, then those held. The stream is read
// on a connection that needs no stamp (plainreads.go), and without
// ctl.mu, so that the receive loop, which holds controls meanwhile,
// never waits for Redis. A failure leaves the debt for the next try, and
// returns the error.
func (e *Engine) catchUpControls(ctx context.Context) error {
	e.ctl.mu.Lock()
	from, owed, since, breaks := e.ctl.last, e.ctl.owed, e.ctl.since, e.ctl.breaks
	e.ctl.mu.Unlock()
	if !owed {
		return nil
	}
	if from == "" { // nothing known to start from: markControls failed
		e.settleControls(nil, 0, nil, breaks)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	var v []any
	err := e.readPlain(e.masterOf(ctx, e.keys.controls()), func(c goredis.Cmdable) (err error) {
		v, err = controlsSinceScript.Run(ctx, c, []string{e.keys.controls()}, from, maxControls).Slice()
		return err
	})
	if err == nil && len(v) != 2 {
		err = errors.New("the control stream's read answered no [time, entries] pair")
	}
	if err != nil {
		if time.Since(since) > controlCatchUp {
			e.settleControls(nil, 0, err, breaks)
		}
		return err
	}
	if e.cfg.afterControlsRead != nil {
		e.cfg.afterControlsRead()
	}
	now, _ := v[0].(int64)
	entries, _ := v[1].([]any)
	e.settleControls(entries, now, nil, breaks)
	return nil
}

// settleControls ends the debt: it hands over entries, read from the
// stream at Redis's time now (ms), and the controls held; failed is why
// the stream could not be read, when it was not. breaks is the count of
// breaks when the read began: a break since may have lost controls
// published after the read, so the entries are handed over but the debt
// stays, and the held controls, which may come after those lost, wait
// for the next catch-up.
func (e *Engine) settleControls(entries []any, now int64, failed error, breaks uint64) {
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	missed := 0
	for _, entry := range entries {
		id, body, ok := controlEntry(entry)
		if !ok {
			continue
		}
		if idTime(id) < now-controlCatchUp.Milliseconds() {
			if idAfter(id, e.ctl.last) {
				e.ctl.last = id // too old to act on
			}
			continue
		}
		if idAfter(id, e.ctl.last) {
			missed++
		}
		e.handControlLocked(id, body)
	}
	if breaks != e.ctl.breaks {
		e.ctl.since = time.Now() // the debt is that break's now
		return
	}
	for _, payload := range e.ctl.held {
		if id, body, ok := strings.Cut(payload, "\n"); ok {
			e.handControlLocked(id, body) // those read above are passed over
		}
	}
	e.ctl.owed, e.ctl.held = false, nil
	switch {
	case failed != nil:
		e.log.Warn("gave up reading the controls a break of pub/sub may have lost", zap.Error(failed))
	case missed > 0:
		e.log.Info("handed over controls the pub/sub connection missed", zap.Int("count", missed))
	}
}

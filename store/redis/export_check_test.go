package redis

import (
	"context"
	"fmt"
	"time"
)

// quietInterval is how far off an engine's periodic probes and checks
// must be for CheckLater: beyond the end of any test.
const quietInterval = time.Hour

// CheckLater picks up the states of every topic e tracks now and returns
// a check of them, to run later, as a check under way since now would
// run.
//
// The check runs on the caller's goroutine, beside the supervisor. So
// that it is the only check, and nothing the supervisor sends of its own
// accord comes between the steps of the test, e's supervisor must neither
// probe nor check periodically (ProbeInterval and CheckInterval of
// quietInterval or more), and CheckLater first waits until the
// supervisor is past its start. (Its probes would not take the check's
// copies: each leg waits for its own token; see probeWaits.)
func CheckLater(e *Engine) func() error {
	if e.cfg.ProbeInterval < quietInterval || e.cfg.CheckInterval < quietInterval {
		err := fmt.Errorf("CheckLater: the supervisor probes every %v and checks every %v; want %v or more",
			e.cfg.ProbeInterval, e.cfg.CheckInterval, quietInterval)
		return func() error { return err }
	}
	if err := supervisorWaiting(e); err != nil {
		return func() error { return err }
	}
	states := e.subs.all()
	r := round{classic: e.classicProbe} // the supervisor is in its loop: no reconnect sets it now
	return func() error {
		return e.checkAll(context.Background(), states, r).err
	}
}

// supervisorWaiting returns once e's supervisor has taken a nudge in the
// loop it waits in between ticks (watch): its start is over, and the
// checks and replay it started run beside the loop (those of an engine
// that tracked nothing then end at once). The nudge channel holds one, so a second send
// goes through only once the supervisor took the first. The replay each
// nudge starts probes only when it finds a change log broken, which takes
// presence; a test that calls CheckLater has none.
func supervisorWaiting(e *Engine) error {
	deadline := time.NewTimer(time.Minute) // far beyond any start: only a supervisor that never gets there
	defer deadline.Stop()
	for range 2 {
		select {
		case e.marks.nudge <- struct{}{}:
		case <-deadline.C:
			return fmt.Errorf("CheckLater: the supervisor did not come to its loop")
		}
	}
	return nil
}

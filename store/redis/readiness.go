package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/herald-broker/herald/broker"
)

// refusalMemory is how long a publish Redis refused keeps the node not
// ready: two readiness probes at the 5 s period of deployments/k8s, so that
// a prober sees it however the probes and the refusals interleave.
const refusalMemory = 10 * time.Second

// Ready returns nil while Redis takes writes, and an error wrapping
// broker.ErrUnavailable while it cannot be reached or refuses them.
//
// A PING would not do: Redis answers it while it refuses every publish (out
// of memory under noeviction, a read-only replica, loading, stuck in a
// script, unable to persist, too few replicas). Remembering the last refused
// publish would stay wrong on a node that has no publishes, and comparing
// INFO's used_memory with maxmemory would guess at one cause of many, by
// rules that are Redis's. So Ready asks Redis to admit a write that changes
// nothing: SETRANGE of an empty string at offset 0 of a key that never
// exists. Redis applies to it every check it applies to the publish script's
// first write, then writes nothing, allocates nothing and replicates
// nothing, which makes it as cheap as a PING.
//
// The probe is small, though, and a Redis at its maxmemory can admit it
// while it refuses a publish whose arguments take it over the limit. So a
// publish Redis refused keeps the node not ready for refusalMemory as well,
// or until a publish succeeds; not one refused for its slot alone (a slot
// map not current, or a slot being migrated: see failPublish), as Redis
// takes writes of every other slot.
func (e *Engine) Ready(ctx context.Context) error {
	if ago, ok := e.refused.within(refusalMemory); ok {
		return broker.Unavailable(fmt.Errorf("herald/redis: ready: Redis refused a publish %v ago", ago.Round(time.Millisecond)))
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.SetRange(ctx, e.readyKey(), 0, "").Err(); err != nil {
		return e.fail("ready", err)
	}
	return nil
}

// readyKey is the key Ready's probe names. Nothing is ever stored under it;
// it is under the prefix so that a Redis user limited to the prefix's keys
// may run the probe.
func (e *Engine) readyKey() string { return e.keys.prefix + "ready" }

// lastRefusal remembers when Redis last refused a publish.
type lastRefusal struct{ at atomic.Int64 } // Unix ns; 0: never

func (l *lastRefusal) record() { l.at.Store(time.Now().UnixNano()) }

// clear forgets the last refusal. It only reads while there is none, so
// that publishes on many cores do not write one shared word each.
func (l *lastRefusal) clear() {
	if l.at.Load() != 0 {
		l.at.Store(0)
	}
}

// within returns how long ago the last refusal was, and whether that is
// less than d.
func (l *lastRefusal) within(d time.Duration) (time.Duration, bool) {
	at := l.at.Load()
	if at == 0 {
		return 0, false
	}
	ago := time.Since(time.Unix(0, at))
	return ago, ago < d
}

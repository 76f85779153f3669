package redis

import "context"

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
func (e *Engine) Ready(ctx context.Context) error {
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

package redis

import (
	"errors"
	"fmt"
	"net"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
)

// What a publisher is told, by what the engine knows (docs/protocol.md section 3).
const (
	msgUnreachable    = "the cluster backend cannot be reached; nothing was published"
	msgRefused        = "the cluster backend refuses writes now (%s); nothing was published"
	msgOutcomeUnknown = "the cluster backend did not confirm the publish; it may have been applied: retry with the same idempotency_key"
)

// refusals are the Redis error codes by which it refuses a command before
// running any of it, or stops a script at its first write: "not now",
// nothing done.
var refusals = map[string]bool{
	"OOM":         true, // maxmemory reached under noeviction
	"READONLY":    true, // a replica
	"MASTERDOWN":  true, // a replica that lost its master
	"LOADING":     true, // loading its data set at start
	"BUSY":        true, // a script runs too long
	"NOSCRIPT":    true, // the script cache was flushed; Script.Run reloads it
	"MISCONF":     true, // cannot persist, so refuses writes
	"NOREPLICAS":  true, // fewer replicas than min-replicas-to-write
	"TRYAGAIN":    true, // cluster: keys being moved
	"CLUSTERDOWN": true,
	"MOVED":       true, // cluster: the slot moved; the no-retry client does not follow it
	"ASK":         true,
}

// fail wraps err for the broker: a Redis that cannot be reached, or refuses
// the command now, is unavailable (a retry is safe); any other reply error
// is a bug of ours and stays internal.
func (e *Engine) fail(op string, err error) error {
	e.stats.failed(err)
	e.reloadOnTrouble()
	err = fmt.Errorf("herald/redis: %s: %w", op, err)
	if _, ok := refusal(err); ok {
		return broker.Unavailable(err)
	}
	var reply goredis.Error
	if errors.As(err, &reply) && !notSent(err) {
		return err
	}
	return broker.Unavailable(err)
}

// failPublish is fail for a publish, whose publisher must learn whether
// the message may have been published: only when the call never reached
// Redis (no connection, or one that failed before Redis answered its
// handshake: see newDialer), or Redis refused it, is nothing published
// for sure. Otherwise the error wraps broker.ErrOutcomeUnknown.
func (e *Engine) failPublish(err error) error {
	e.stats.failed(err)
	e.reloadOnTrouble()
	err = fmt.Errorf("herald/redis: publish: %w", err)
	if code, ok := refusal(err); ok {
		// A stale slot map (MOVED), or a slot being migrated whose keys
		// left (ASK) or are split between the two masters (TRYAGAIN), is
		// the topic's slot in the way, not a Redis that refuses writes:
		// every other slot takes them, and the node stays ready.
		if code != "MOVED" && code != "ASK" && code != "TRYAGAIN" {
			e.refused.record()
		}
		return unavailable(err, fmt.Sprintf(msgRefused, code))
	}
	var reply goredis.Error
	switch {
	case notSent(err) || neverAnswered(err):
		return unavailable(err, msgUnreachable)
	case errors.As(err, &reply):
		return err
	}
	return broker.OutcomeUnknown(err, msgOutcomeUnknown)
}

func unavailable(cause error, message string) error {
	return &broker.Error{Code: broker.CodeUnavailable, Message: message, Err: cause}
}

// refusal returns the code of a Redis reply that refused the command
// without running it.
func refusal(err error) (string, bool) {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return "", false
	}
	if goredis.IsMaxClientsError(err) {
		return "max clients", true
	}
	if goredis.IsAuthError(err) { // the URL's credentials are not Redis's
		return "authentication", true
	}
	code := replyCode(reply.Error())
	return code, refusals[code]
}

// replyCode returns the code that starts a Redis error reply. Redis 7
// passes on the code of an error raised inside a script; Redis 6 wraps it
// as "ERR Error running script ...: -OOM command not allowed ...".
func replyCode(msg string) string {
	if strings.HasPrefix(msg, "ERR Error running script") {
		if _, inner, ok := strings.Cut(msg, ": -"); ok {
			msg = inner
		}
	}
	code, _, _ := strings.Cut(msg, " ")
	return code
}

// notSent reports an error that came before the command left: no
// connection could be had, or the new one failed its stamp (see
// runstamp.go), so Redis never saw it.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrPoolExhausted) ||
		errors.Is(err, goredis.ErrClosed) || errors.Is(err, errStamp) || noMasterKnown(err)
}

// noMasterKnown reports go-redis's Sentinel client finding no master to
// dial: no sentinel answered with one. It wraps what each sentinel said,
// which may be a reply (redis: nil, for a master name they do not know),
// so it would pass for a reply error; go-redis gives it no type of its own.
func noMasterKnown(err error) bool {
	return strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable")
}

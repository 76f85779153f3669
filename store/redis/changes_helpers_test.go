package redis_test

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// What the tests of presence changes and their logs share: a watched pair
// of engines, a changer, and the names of a topic's log keys.

// watchedPresencePair is proxiedPresencePair with e, through the proxy,
// subscribed to topic and present there as "watcher", as a broker's
// presence:true subscription makes it, and rec recording what e gets.
func watchedPresencePair(t *testing.T, topic string) (*redistest.Server, *redistest.Proxy, *redis.Engine, *recorder, *redis.Engine, *recorder) {
	t.Helper()
	srv, px, other, orec, e := proxiedPresencePair(t, redis.Config{NodeID: "cut", PresenceLapse: time.Hour})
	rec := newRecorder()
	e.Attach(rec)
	mustSubscribe(t, e, topic)
	mustAdd(t, e, broker.PresenceEntry{Topic: topic, Session: "e1", User: "watcher"})
	waitChanges(t, rec, topic, "+watcher")
	return srv, px, other, orec, e, rec
}

// changer adds and removes presence entries of one topic through one
// engine.
type changer struct {
	t     *testing.T
	e     *redis.Engine
	topic string
}

func (c changer) add(session, user string) {
	c.t.Helper()
	mustAdd(c.t, c.e, broker.PresenceEntry{Topic: c.topic, Session: session, User: user})
}

func (c changer) remove(session, user string) {
	c.t.Helper()
	if err := c.e.RemovePresence(ctxFor(c.t), broker.PresenceEntry{Topic: c.topic, Session: session, User: user}); err != nil {
		c.t.Fatalf("RemovePresence(%s, %s): %v", session, user, err)
	}
}

// changeLogKey names topic's change log.
func changeLogKey(e *redis.Engine, topic string) string {
	keys, _ := redis.PresenceKeys(e, topic, "")
	return keys[5]
}

// logEndKey names the key that keeps the ID of the last change of
// topic's log once the log went with the topic's last entry.
func logEndKey(e *redis.Engine, topic string) string {
	keys, _ := redis.PresenceKeys(e, topic, "")
	return keys[6]
}

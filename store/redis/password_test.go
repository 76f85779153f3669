package redis_test

import (
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A Redis that asks for a password the URL does not give refuses every
// call before running it: unavailable, never internal.
func TestMissingPasswordIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	e := newEngine(t, srv.URL(), redis.Config{HistorySize: 10})
	mustPublish(t, e, request("auth"))
	a := admin(t, srv.Addr())
	do(t, a, "CONFIG", "SET", "requirepass", "pw")
	do(t, a, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") // connections made before keep their login
	err := publishUntilRefusedBy(t, e, "auth")
	wantNothingPublished(t, "publish to a Redis that wants a password", err)
}

// redis+sentinel://:password@... gives its one password to the sentinels
// too (docs/protocol.md section 12): those that ask for none take it, and
// those that ask for it get it.
func TestSentinelsAskingForTheURLsPassword(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	for _, n := range s.Servers() {
		c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		do(t, c, "CONFIG", "SET", "masterauth", "pw")
		do(t, c, "CONFIG", "SET", "requirepass", "pw")
		c.Close()
	}
	url := strings.Replace(s.URL(), "://", "://:pw@", 1)
	// Sentinels that ask for no password take the one they are given.
	mustPublish(t, newEngine(t, url, redis.Config{HistorySize: 10}), request("sentinel-auth"))
	for _, n := range s.Sentinels() {
		c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		do(t, c, "SENTINEL", "SET", s.MasterName(), "auth-pass", "pw")
		do(t, c, "ACL", "SETUSER", "default", "resetpass", ">pw")
		c.Close()
	}
	mustPublish(t, newEngine(t, url, redis.Config{HistorySize: 10}), request("sentinel-auth"))
}

// publishUntilRefusedBy publishes to topic until a publish fails, which
// it returns: the engine may still hold a connection made before.
func publishUntilRefusedBy(t *testing.T, e *redis.Engine, topic string) error {
	t.Helper()
	for range 100 {
		if _, err := e.Publish(ctxFor(t), request(topic)); err != nil {
			return err
		}
	}
	t.Fatal("every publish went through")
	return nil
}

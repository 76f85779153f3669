package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// TestTwinClosedOnceAwayAndGivenBack lends the twin of a master's node
// client, then has the slot map name no master at its address: the twin
// still serves the call that holds it, is closed once given back, and a
// master back at that address gets a new twin that serves. A twin whose
// address a read names a master again before it is given back is kept.
func TestTwinClosedOnceAwayAndGivenBack(t *testing.T) {
	srv := redistest.Start(t)
	node := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = node.Close() })
	tw := new(twins)
	*tw = newTwins(newUnstampedTwin)
	t.Cleanup(func() { _ = tw.close() })
	ping := func(c *goredis.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}

	c, done := tw.lend(node)
	if again, done2 := tw.lend(node); again != c {
		t.Fatal("a second lend of one address gave another client")
	} else {
		done2()
	}
	tw.keepOnly(map[string]*goredis.Client{}) // the master left the slot map
	if err := ping(c); err != nil {
		t.Fatalf("the twin lent before its master left failed its call: %v", err)
	}
	done()
	if err := ping(c); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("the twin of an address no master's, given back, still serves (%v); want it closed", err)
	}

	back, done := tw.lend(node) // the master is back at the same address
	if back == c {
		t.Fatal("a master back at its address got the closed twin")
	}
	tw.keepOnly(map[string]*goredis.Client{})
	if again, done2 := tw.lend(node); again != back {
		t.Fatal("a lend while the twin was away gave another client")
	} else {
		done2()
	}
	tw.keepOnly(map[string]*goredis.Client{srv.Addr(): node}) // a master there again
	done()
	if err := ping(back); err != nil {
		t.Fatalf("the twin of a master found again failed: %v", err)
	}
}

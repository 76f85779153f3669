package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
)

// countingBoard counts the reads of the other nodes' word.
type countingBoard struct {
	lagBoard
	reads atomic.Int64
}

func (b *countingBoard) OthersBehind(ctx context.Context) (bool, []string, error) {
	b.reads.Add(1)
	return b.lagBoard.OthersBehind(ctx)
}

// noDeliveries is a node that delivers nothing.
type noDeliveries struct{}

func (noDeliveries) MostDelivered(int, float64, []string) ([]string, bool) { return nil, false }
func (noDeliveries) RestartDeliveryCounts()                                {}
func (noDeliveries) DeliveryWindows() (uint64, uint64)                     { return 0, 0 }

// An idle node reads nothing from the lag board; once it publishes it
// reads the others' word, holds its publishers while another node is
// behind and lets them go once that node says it no longer is.
func TestLagShareReadsOnlyWhilePublishing(t *testing.T) {
	const bound = 80 * time.Millisecond
	url := redistest.Start(t).URL()
	engine := func(node string) *redis.Engine {
		e, err := redis.New(context.Background(), redis.Config{URL: url, Prefix: "lagshare:", NodeID: node, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	board := &countingBoard{lagBoard: engine("here")}
	other := engine("there")
	tr, err := transport.New(transport.Config{MaxDeliveryLag: bound})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	var published atomic.Uint64
	s := shareLag(board, tr, noDeliveries{}, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)

	time.Sleep(20 * s.tick)
	if n := board.reads.Load(); n != 0 {
		t.Fatalf("an idle node read the lag board %d times", n)
	}
	if err := other.MarkBehind(context.Background(), time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	held := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), s.tick)
		defer cancel()
		return tr.Wait(ctx, "t") != nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for published.Add(1); !held(); published.Add(1) {
		if time.Now().After(deadline) {
			t.Fatal("a publishing node's publishers were not held for a node behind")
		}
	}
	if err := other.MarkBehind(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	for held() { // no publish goes through meanwhile: the node reads on while the others were behind
		if time.Now().After(deadline) {
			t.Fatal("publishers still held once the other node said it caught up")
		}
	}
}

// Another node behind holds this node's publishes to the topics it
// lists and no others; one that lists none holds them all, and so does a
// node of an older release, whose word has no list.
func TestLagShareHoldsTheTopicsOthersDeliver(t *testing.T) {
	const bound = 80 * time.Millisecond
	srv := redistest.Start(t)
	engine := func() *redis.Engine {
		e, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), Prefix: "lagtopics:", Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	here, other := engine(), engine()
	tr, err := transport.New(transport.Config{MaxDeliveryLag: bound})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	var published atomic.Uint64
	s := shareLag(here, tr, noDeliveries{}, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	held := func(topic string) bool { return tr.Wait(ended, topic) != nil } // answers at once
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for published.Add(1); !cond(); published.Add(1) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(s.tick)
		}
	}
	mark := func(topics ...string) {
		t.Helper()
		if err := other.MarkBehind(context.Background(), time.Minute, topics); err != nil {
			t.Fatal(err)
		}
	}
	mark("hot", "warm")
	eventually("publishes to the topics another node behind delivers are not held",
		func() bool { return held("hot") && held("warm") })
	if held("cold") {
		t.Fatal("a publish to a topic the node behind does not deliver is held")
	}
	mark()
	eventually("a node behind on all topics does not hold a publish to any", func() bool { return held("cold") })
	if err := other.MarkBehind(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	eventually("publishers still held once the other node caught up", func() bool { return !held("hot") })
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.ZAdd(context.Background(), "lagtopics:{#lag}:behind",
		goredis.Z{Score: float64(time.Now().Add(5 * time.Second).UnixMilli()), Member: "old-release"}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually("a node of an older release behind does not hold every topic", func() bool { return held("cold") })
}

// askedDeliveries records how many topics it was asked for at most.
type askedDeliveries struct {
	noDeliveries
	k int
}

func (d *askedDeliveries) MostDelivered(k int, _ float64, _ []string) ([]string, bool) {
	d.k = k
	return nil, false
}

// limitedBoard takes lists of limit topics at most.
type limitedBoard struct {
	lagBoard
	limit int
}

func (b limitedBoard) BehindTopicsLimit() int { return b.limit }

// A node behind lists as many topics as its board takes, so that the
// bound is one fact, the board's: a list the board would store as "all
// topics" is never picked.
func TestLagShareListsWhatTheBoardTakes(t *testing.T) {
	tr, err := transport.New(transport.Config{MaxDeliveryLag: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	var published atomic.Uint64
	d := &askedDeliveries{}
	s := shareLag(limitedBoard{limit: 5}, tr, d, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)
	if want := max(tr.LagTick(), minShareTick); s.tick != want {
		t.Errorf("shares every %v, want every tick of the transport's lag scan, %v, and %v at least", s.tick, tr.LagTick(), minShareTick)
	}
	s.busy() // the node is not behind: its own loop never asks meanwhile
	if d.k != 5 {
		t.Fatalf("asked for the %d busiest topics, want the board's 5", d.k)
	}
}

// At the default bound the transport scans its lag every 3.75 ms; the
// sharing ticks every 12.5 ms still, so that a publishing node reads the
// board 80 times a second, not 267.
func TestLagShareTicksNoFasterThanItsFloor(t *testing.T) {
	tr, err := transport.New(transport.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	var published atomic.Uint64
	s := shareLag(limitedBoard{limit: 5}, tr, &askedDeliveries{}, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)
	if tr.LagTick() >= 12500*time.Microsecond {
		t.Fatalf("the transport's tick is %v at the default bound; the test wants one under 12.5 ms", tr.LagTick())
	}
	if s.tick != 12500*time.Microsecond {
		t.Errorf("shares every %v, want 12.5ms", s.tick)
	}
}

// The cluster engine is a lag board: were it to lack a method of the
// interface, Build's type assertion would fail and nodes would stop
// sharing their lag, without a word.
var _ lagBoard = (*redis.Engine)(nil)

// stuckBoard answers no read of the others' word until its ctx ends, as
// a Redis that stopped answering does.
type stuckBoard struct {
	limitedBoard
	reading chan struct{}
}

func (b stuckBoard) OthersBehind(ctx context.Context) (bool, []string, error) {
	select {
	case b.reading <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return false, nil, ctx.Err()
}

// Closing a node while it reads the others' word ends the read, and
// says nothing of Redis: a warning that it cannot read the board would
// send an operator after a Redis that is fine.
func TestLagShareCloseWarnsOfNothing(t *testing.T) {
	tr, err := transport.New(transport.Config{MaxDeliveryLag: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	core, logs := observer.New(zap.WarnLevel)
	var published atomic.Uint64
	board := stuckBoard{limitedBoard: limitedBoard{limit: 4}, reading: make(chan struct{}, 1)}
	s := shareLag(board, tr, noDeliveries{}, published.Load, zap.New(core))
	deadline := time.Now().Add(10 * time.Second)
	for read := false; !read; {
		published.Add(1) // something to hold: the next tick reads
		select {
		case <-board.reading:
			read = true
		case <-time.After(s.tick):
			if time.Now().After(deadline) {
				s.close()
				t.Fatal("the board was never read")
			}
		}
	}
	s.close()
	if n := logs.Len(); n != 0 {
		t.Fatalf("closing logged %d warnings, first %q", n, logs.All()[0].Message)
	}
}

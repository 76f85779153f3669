package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
	"github.com/herald-broker/herald/transport"
)

// countingBoard counts the reads of the other nodes' word.
type countingBoard struct {
	lagBoard
	reads atomic.Int64
}

func (b *countingBoard) OthersBehind(ctx context.Context) (bool, error) {
	b.reads.Add(1)
	return b.lagBoard.OthersBehind(ctx)
}

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
	s := shareLag(board, tr, published.Load, zaptest.NewLogger(t))
	t.Cleanup(s.close)

	time.Sleep(20 * s.tick)
	if n := board.reads.Load(); n != 0 {
		t.Fatalf("an idle node read the lag board %d times", n)
	}
	if err := other.MarkBehind(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	held := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), s.tick)
		defer cancel()
		return tr.Wait(ctx) != nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for published.Add(1); !held(); published.Add(1) {
		if time.Now().After(deadline) {
			t.Fatal("a publishing node's publishers were not held for a node behind")
		}
	}
	if err := other.MarkBehind(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	for held() { // no publish goes through meanwhile: the node reads on while the others were behind
		if time.Now().After(deadline) {
			t.Fatal("publishers still held once the other node said it caught up")
		}
	}
}

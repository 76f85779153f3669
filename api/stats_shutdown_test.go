package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// stuckBoard is a stats board whose posts hang until their context ends,
// as a board on a Redis that stopped answering would.
type stuckBoard struct {
	posting chan struct{} // gets a value when a post has begun
	ended   chan error    // gets each post's context error when it returns
	removed chan struct{} // closed by RemoveStats
}

func (b *stuckBoard) PostStats(ctx context.Context, _ string, _ []byte, _ time.Duration) error {
	b.posting <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return ctx.Err()
}

func (b *stuckBoard) ReadStats(context.Context, int) ([][]byte, error) { return nil, nil }

func (b *stuckBoard) RemoveStats(context.Context, string) error {
	close(b.removed)
	return nil
}

// Shutdown cancels a stats post under way rather than waiting out its
// timeout: the engine behind the board is closed right after the server,
// and the post would go on calling it.
func TestShutdownCancelsTheStatsPost(t *testing.T) {
	board := &stuckBoard{posting: make(chan struct{}, 1), ended: make(chan error, 1), removed: make(chan struct{})}
	n := startNode(t, api.Config{Stats: board}, nil)
	<-board.posting // the first post, at start
	closeWithin(t, "server", n.srv.Shutdown)
	select {
	case err := <-board.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the post under way ended with %v, want it cancelled by Shutdown", err)
		}
	default:
		t.Fatal("Shutdown returned while the stats post still ran")
	}
	select {
	case <-board.removed:
	default:
		t.Fatal("Shutdown did not take the node off the board")
	}
}

package node_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
)

// failingEngine is a memory engine whose Close fails.
type failingEngine struct{ *memory.Engine }

var errEngineClose = errors.New("engine close failed")

func (e failingEngine) Close(ctx context.Context) error {
	return errors.Join(e.Engine.Close(ctx), errEngineClose)
}

// A client that never finishes its close is dropped when Close's time
// runs out, and that alone is no error of Close's: the broker and the
// engine still get time to stop, and an error of theirs is still one.
func TestCloseDropsAClientThatIgnoresCloseWithoutFailing(t *testing.T) {
	for _, failing := range []bool{false, true} {
		var eng broker.Engine = memory.New(memory.Config{HistorySize: broker.DefaultHistorySize})
		if failing {
			eng = failingEngine{eng.(*memory.Engine)}
		}
		n, err := node.Build(node.Config{}, eng, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n.Serve(l) // closed below, not at cleanup: its Close fails on purpose
		addr := l.Addr().String()
		c, _ := dial(t, addr) // reads and answers nothing from here on
		// Well under the transport's close timeout (5s): the drain is cut.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = n.Close(ctx)
		cancel()
		switch {
		case !failing && err != nil:
			t.Fatalf("Close = %v, want nil: only the client failed to close", err)
		case failing && !errors.Is(err, errEngineClose):
			t.Fatalf("Close = %v, want the engine's error", err)
		case failing && errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("Close = %v: the drain's deadline is no error of the node's", err)
		}
		_ = c
	}
}

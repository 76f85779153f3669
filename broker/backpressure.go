package broker

import (
	"context"
	"errors"
	"fmt"
)

// Backpressure holds publishers back while delivery is behind: this
// node's, or that of another node of a cluster busy delivering the topic;
// transport implements it with its event loops' delivery lag. A publish
// waits in it before the engine takes the message, so one it refuses was
// not published (docs/protocol.md section 3).
type Backpressure interface {
	// Wait returns nil once delivery of a message to topic keeps up, at
	// once when it does, or an error when it gives up waiting or ctx ends.
	Wait(ctx context.Context, topic string) error
}

// ErrOverloaded is wrapped, beside ErrUnavailable, by the error of a
// publish that Backpressure refused: nothing was published, and a retry
// after a short while is safe. It is not an *Error, so that errors.Is
// tells it from other unavailable errors; api answers it with Retry-After.
var ErrOverloaded = errors.New("herald/broker: delivery is behind")

// holdBack waits until Backpressure lets a publish to topic through.
func (b *Broker) holdBack(ctx context.Context, topic string) error {
	if b.cfg.Backpressure == nil {
		return nil
	}
	if err := b.cfg.Backpressure.Wait(ctx, topic); err != nil {
		return &Error{Code: CodeUnavailable, Message: "delivery is behind: nothing was published, retry later",
			Err: fmt.Errorf("%w: %w", ErrOverloaded, err)}
	}
	return nil
}

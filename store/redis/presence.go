package redis

import (
	"context"
	"fmt"

	"github.com/herald-broker/herald/broker"
)

var errPresenceMissing = fmt.Errorf("herald/redis: presence is not built yet: %w", broker.ErrUnavailable)

// AddPresence records a presence entry.
func (e *Engine) AddPresence(ctx context.Context, p broker.PresenceEntry) error {
	return errPresenceMissing
}

// RemovePresence removes a presence entry.
func (e *Engine) RemovePresence(ctx context.Context, p broker.PresenceEntry) error {
	return errPresenceMissing
}

// Presence returns who is on topic.
func (e *Engine) Presence(ctx context.Context, topic string) (broker.PresenceState, error) {
	return broker.PresenceState{}, errPresenceMissing
}

// Control hands c to every node.
func (e *Engine) Control(ctx context.Context, c broker.Control) error { return errPresenceMissing }

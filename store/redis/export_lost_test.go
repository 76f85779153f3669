package redis

import (
	"context"

	"github.com/herald-broker/herald/broker"
)

// CheckLostJoinsUnheard runs e's check of joins on topic in Redis as
// LostJoins does, its reply lost: what a read that timed out after Redis
// ran the script leaves.
func CheckLostJoinsUnheard(ctx context.Context, e *Engine, topic string, joins []broker.SentJoin) error {
	keys := []string{e.keys.presUsers(topic), e.keys.presSeq(topic), e.keys.presLost(topic)}
	return lostJoinsScript.Run(ctx, e.rdb, keys, e.lostJoinsArgs("*", joins)...).Err()
}

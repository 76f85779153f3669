package limits

import (
	"sync/atomic"

	"github.com/herald-broker/herald/broker"
)

// subscriptionBudget is what an entry keeps of ConnConfig.Subscriptions:
// the subscriptions its address's connections hold together. The zero
// value (max 0) is none.
type subscriptionBudget struct {
	max  int64
	held atomic.Int64
}

var _ broker.AddressSubscriptions = (*entry)(nil)

// TakeSubscription implements broker.AddressSubscriptions for e's
// address; with no Subscriptions it takes every one.
func (e *entry) TakeSubscription() bool {
	if e.subscriptions.max == 0 {
		return true
	}
	if e.subscriptions.held.Add(1) > e.subscriptions.max {
		e.subscriptions.held.Add(-1)
		return false
	}
	return true
}

// GiveSubscriptions implements broker.AddressSubscriptions.
func (e *entry) GiveSubscriptions(n int) {
	if e.subscriptions.max != 0 {
		e.subscriptions.held.Add(-int64(n))
	}
}

// MaxSubscriptions implements broker.AddressSubscriptions.
func (e *entry) MaxSubscriptions() int { return int(e.subscriptions.max) }

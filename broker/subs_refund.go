package broker

import (
	"sync/atomic"
	"time"
)

// SubsCharge is what a WebSocket's subs claim was counted from its
// address's budget as it connected (PaceSubs), before the upgrade and
// before any of its topics was set up: one command a topic, and each
// topic's work. It goes with the connection (ClientInfo.SubsPaid) until
// each topic's subscribe has run, so that a topic never set up (the
// connection closed first, the upgrade failed, the engine answered
// unavailable until the claim stopped trying) is given back what it was
// counted, once: kept, a client that closed right after connecting paid
// its whole claim each time for subscriptions the node never made.
type SubsCharge struct {
	pacer  AddressPacer
	topics []string   // the claim's, as PaceSubs counted them
	work   []*prepaid // what each topic was counted of its work; nil: nothing
	// settled[i] is set by whoever settles topics[i] first: its subscribe
	// on the session's worker, the close that drops the claim's job, or
	// the upgrade that failed. Only that one gives anything back.
	settled []atomic.Bool
}

// newSubsCharge keeps what paceStream took from address for topics, or
// returns nil when nothing of it can be given back.
func newSubsCharge(address AddressPacer, topics []string, work []*prepaid) *SubsCharge {
	if _, ok := address.(AddressSpender); !ok || len(topics) == 0 {
		return nil
	}
	return &SubsCharge{pacer: address, topics: topics, work: work, settled: make([]atomic.Bool, len(topics))}
}

// settleSub settles topic i of c once its subscribe ran: made tells
// whether the connection holds the subscription (its close counts its
// unsubscribe), joined whether the engine recorded its presence entry or
// may have. A topic not made is given back its command and its work; one
// made the work that did not run (workNotRun), as a client's subscribe
// is. Later calls for i give back nothing.
func (b *Broker) settleSub(c *SubsCharge, i int, made, joined bool) {
	if c == nil || i >= len(c.settled) || !c.settled[i].CompareAndSwap(false, true) {
		return
	}
	n := b.workNotRun(c.work[i], c.topics[i], joined)
	if !made {
		n++
	}
	giveBackTo(c.pacer, n)
}

// GiveBackSubs gives back what c counted of every topic not settled yet:
// none of them will be set up (the upgrade failed, or the connection
// closed before the claim's job ran). nil gives back nothing.
func (b *Broker) GiveBackSubs(c *SubsCharge) {
	if c == nil {
		return
	}
	for i := range c.topics {
		b.settleSub(c, i, false, false)
	}
}

// giveBackTo gives n commands back to pacer's budget, when it can take
// them back.
func giveBackTo(pacer AddressPacer, n int) {
	if sp, ok := pacer.(AddressSpender); ok && n > 0 {
		sp.GiveBackCommands(time.Now().UnixNano(), n)
	}
}

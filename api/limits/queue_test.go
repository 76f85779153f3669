package limits

import (
	"net/netip"
	"testing"

	"github.com/herald-broker/herald/transport"
)

// queueOf is the AddressQueue the pacer of a connection carries; nil: none.
func queueOf(t *testing.T, l *ConnLimiter, ip netip.Addr) *transport.AddressQueue {
	t.Helper()
	_, pacer := mustAcquirePaced(t, l, ip)
	q, ok := pacer.(transport.AddressQueuer)
	if !ok {
		return nil
	}
	return q.AddressQueue()
}

// With QueueBytes, the connections of one address share one
// AddressQueue and another address has its own; without a CommandRate
// the pacer that carries it allows every command. Without QueueBytes
// there is none.
func TestQueueBoundIsPerAddress(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{QueueBytes: 1 << 20})
	a1, a2, b := queueOf(t, l, ipA), queueOf(t, l, ipA), queueOf(t, l, ipB)
	if a1 == nil || a1 != a2 || b == nil || b == a1 {
		t.Fatalf("queues of two connections of one address %p and %p, of another %p: want one for the first two, its own for the third", a1, a2, b)
	}
	_, pacer := mustAcquirePaced(t, l, ipA)
	if got := allowed(pacer, clock.Now().UnixNano(), 1000); got != 1000 {
		t.Fatalf("without a command rate %d of 1000 commands allowed", got)
	}

	l, _ = newLimiter(t, ConnConfig{CommandRate: 10})
	if q := queueOf(t, l, ipA); q != nil {
		t.Fatalf("an address has a queue bound without QueueBytes")
	}
}

// With ReadBytes, the connections of one address share one AddressReads
// and another address has its own; without it there is none.
func TestReadBoundIsPerAddress(t *testing.T) {
	readsOf := func(l *ConnLimiter, ip netip.Addr) *transport.AddressReads {
		_, pacer := mustAcquirePaced(t, l, ip)
		r, ok := pacer.(transport.AddressReader)
		if !ok {
			return nil
		}
		return r.AddressReads()
	}
	l, _ := newLimiter(t, ConnConfig{ReadBytes: 1 << 20})
	a1, a2, b := readsOf(l, ipA), readsOf(l, ipA), readsOf(l, ipB)
	if a1 == nil || a1 != a2 || b == nil || b == a1 {
		t.Fatalf("read bounds of two connections of one address %p and %p, of another %p: want one for the first two, its own for the third", a1, a2, b)
	}
	l, _ = newLimiter(t, ConnConfig{QueueBytes: 1 << 20})
	if r := readsOf(l, ipA); r != nil {
		t.Fatalf("an address has a read bound without ReadBytes")
	}
}

package hooks

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/store/memory"
)

// outageStore is the memory engine with reads of the queue that fail
// while out is set (the store's master is gone), and that counts the
// releases of lapsed nodes.
type outageStore struct {
	*memory.Engine
	out      atomic.Bool
	releases atomic.Int32
}

func (s *outageStore) NextEvents(ctx context.Context, node string, n int, lease time.Duration) ([][]byte, string, bool, bool, error) {
	if s.out.Load() {
		return nil, "", false, false, errors.New("the store's master is gone")
	}
	return s.Engine.NextEvents(ctx, node, n, lease)
}

func (s *outageStore) ReleaseNodes(ctx context.Context, node string, delay time.Duration, max int) (int, error) {
	if node == "" {
		s.releases.Add(1)
	}
	return s.Engine.ReleaseNodes(ctx, node, delay, max)
}

// After an outage of the store longer than the lease, seen only by the
// sender's failed reads of the queue, the sender releases no lapsed node
// at its first heartbeat back: every node's heartbeat lapsed in the
// outage, and the others have not had a lease to say they run. A live
// node released so was taken out of the holders of its topics, and
// topic_vacated went out while it had subscribers. Once its heartbeats
// went through for a lease again, it releases the lapsed nodes.
func TestSenderReleasesNoNodeRightAfterAnOutage(t *testing.T) {
	eng := memory.New(memory.Config{})
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	store := &outageStore{Engine: eng}
	const lease = 300 * time.Millisecond
	w := &Webhooks{cfg: WebhookConfig{Node: "n1", Store: store, Lease: lease, VacatedDelay: time.Second, MaxQueued: 100},
		log: zap.NewNop(), ctx: context.Background()}
	var backoff time.Duration
	for range 5 { // heartbeats for more than a lease before the outage
		w.sendOnce(&backoff)
		time.Sleep(lease / 3)
	}
	if store.releases.Load() == 0 {
		t.Fatal("no release of lapsed nodes after heartbeats for a lease")
	}
	store.releases.Store(0)

	store.out.Store(true)
	for range 7 { // an outage of more than two leases
		w.sendOnce(&backoff)
		time.Sleep(lease / 3)
	}
	store.out.Store(false)
	w.sendOnce(&backoff)
	if n := store.releases.Load(); n != 0 {
		t.Fatalf("the first heartbeat after the outage released lapsed nodes (%d releases)", n)
	}
	for range 20 {
		time.Sleep(lease / 3)
		if w.sendOnce(&backoff); store.releases.Load() > 0 {
			return
		}
	}
	t.Fatal("no release of lapsed nodes after heartbeats for a lease again")
}

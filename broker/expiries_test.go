package broker

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Many tokens expire, each at its own deadline, through one timer;
// connections gone before their deadline are not closed.
func TestExpiriesCloseEachAtItsDeadline(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	var live, gone []*client
	for i := range 30 {
		at := time.Now().Add(time.Duration(10+(i*7)%50) * time.Millisecond)
		c := connect(t, b, ClientInfo{Subject: "u", Expires: at})
		if i%3 == 0 {
			c.s.Disconnected()
			gone = append(gone, c)
		} else {
			live = append(live, c)
		}
	}
	for _, c := range live {
		c.waitFor(t, "close 4001", func(_ []map[string]any, code int) bool { return code != 0 })
		if c.code() != CloseTokenExpired {
			t.Errorf("close %d, want %d", c.code(), CloseTokenExpired)
		}
	}
	for _, c := range gone {
		if c.code() != 0 {
			t.Errorf("a connection gone before its deadline was closed with %d", c.code())
		}
	}
	b.expiries.mu.Lock()
	defer b.expiries.mu.Unlock()
	if len(b.expiries.heap) != 0 {
		t.Errorf("%d deadlines left", len(b.expiries.heap))
	}
}

// The heap stays ordered and every session knows its place through
// random sets, changes and removals.
func TestExpiriesHeapKeepsOrder(t *testing.T) {
	x := &expiries{g: &workerGroup{}}
	rng := rand.New(rand.NewPCG(3, 4))
	var pool []*Session
	for range 100 {
		pool = append(pool, &Session{who: &identity{}})
	}
	far := time.Now().Add(time.Hour).UnixNano()
	for range 5000 {
		s := pool[rng.IntN(len(pool))]
		at := int64(0)
		if rng.IntN(4) != 0 {
			at = far + rng.Int64N(1e9)
		}
		x.set(s, at)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timer != nil {
		defer x.timer.Stop()
	}
	for i, s := range x.heap {
		if int(s.who.slot) != i+1 {
			t.Fatalf("session at %d thinks it is at %d", i, s.who.slot-1)
		}
		if i > 0 && x.less(i, (i-1)/2) {
			t.Fatalf("heap out of order at %d", i)
		}
	}
}

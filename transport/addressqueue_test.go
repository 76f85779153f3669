package transport

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// addressReceiver is a receiver that names its address's bound, as
// api's does.
type addressReceiver struct {
	*textRecorder
	queue *AddressQueue
}

func (r addressReceiver) AddressQueue() *AddressQueue { return r.queue }

// newAddressConn is a conn of nopDriver counting its own frames in a.
func newAddressConn(a *AddressQueue) *conn {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1, stats: new(counters)})
	c.received(addressReceiver{&textRecorder{}, a})
	return c
}

// A connection's own frames (Send) count in its address's bound until
// written; a fan-out's (SendDeferred) and the server's pings do not. The
// frame that would take the address past its bound closes its connection
// with 4000, and a connection that ends gives back what it held.
func TestOwnFramesCountInTheAddressBound(t *testing.T) {
	a := NewAddressQueue(500)
	c1, c2 := newAddressConn(a), newAddressConn(a)
	c1.Send(make([]byte, 200))
	c1.SendDeferred(make([]byte, 300), nil) // shared: not counted
	c1.ping()
	c2.Send(make([]byte, 250))
	if got := a.Queued(); got != 450 {
		t.Fatalf("the address holds %d bytes, want the two own frames' 450", got)
	}

	// Written: the own bytes go as they are written.
	n := 0
	for _, f := range c1.batch(nil, maxBatch) {
		n += len(f)
	}
	c1.written(100)
	if got := a.Queued(); got != 350 {
		t.Fatalf("after 100 bytes written of a queue of %d the address holds %d, want 350", n, got)
	}
	c1.written(n - 100)
	if got := a.Queued(); got != 250 {
		t.Fatalf("c1's queue written, the address holds %d, want c2's 250", got)
	}

	if c2.Send(make([]byte, 251)) || !c2.isClosing() {
		t.Fatal("a frame that takes the address past its bound was taken")
	}
	if batch := c2.batch(nil, maxBatch); len(batch) != 1 || !bytes.Equal(batch[0], closeFrame(broker.CloseSlowConsumer, "slow consumer")) {
		t.Fatalf("after the address's overflow the batch is %q, want the 4000 close frame only", batch)
	}
	if !c1.Send(make([]byte, 200)) {
		t.Fatal("another connection of the address refused a frame within the bound")
	}
	c2.finish()
	if got := a.Queued(); got != 200 {
		t.Fatalf("c2 ended, the address holds %d, want c1's 200", got)
	}
}

// A connection's own bytes leave its address's count once written, even
// while a fan-out queued behind them keeps its queue long: a spike of a
// busy topic on the connections of one address (clients behind one NAT)
// must not hold the bytes of their replies, already written, against
// the others' next replies.
func TestOwnBytesWrittenAheadOfAFanOutAreGivenBack(t *testing.T) {
	a := NewAddressQueue(500)
	c1, c2 := newAddressConn(a), newAddressConn(a)
	c1.Send(make([]byte, 400))               // a resume's message
	c1.SendDeferred(make([]byte, 1000), nil) // the topic's spike
	c1.ping()                                // a server frame: not counted
	c1.Send(make([]byte, 10))                // a pong behind them
	if got := a.Queued(); got != 410 {
		t.Fatalf("the address holds %d bytes, want c1's own 410", got)
	}
	c1.batch(nil, maxBatch)
	c1.written(400)
	if got := a.Queued(); got != 10 {
		t.Fatalf("c1's 400 own bytes written, the address holds %d, want the pong's 10", got)
	}
	if !c2.Send(make([]byte, 450)) {
		t.Fatal("a reply within the bound closed another connection of the address")
	}
	c1.written(1000)
	if got := a.Queued(); got != 460 {
		t.Fatalf("c1's spike written, the address holds %d, want 460", got)
	}
	c1.written(int(c1.QueuedBytes()))
	if got := a.Queued(); got != 450 {
		t.Fatalf("c1's queue written, the address holds %d, want c2's 450", got)
	}
}

// A frame that does not fit takes nothing from the others, even for a
// moment: while one connection of an address tries, again and again, a
// frame past the bound, another's small frames that fit are all taken.
func TestAFrameThatDoesNotFitRefusesNoOther(t *testing.T) {
	const limit, tries = 1000, 1_000_000
	a := NewAddressQueue(limit)
	if !a.take(limit - 10) {
		t.Fatal("the first frame was refused")
	}
	var stop atomic.Bool
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		for !stop.Load() {
			if a.take(100) {
				t.Error("a frame past the bound was taken")
				return
			}
		}
	}()
	<-started
	refused := 0
	for range tries {
		if !a.take(5) {
			refused++
			continue
		}
		a.give(5)
	}
	stop.Store(true)
	<-done
	if refused > 0 {
		t.Errorf("%d of %d frames that fit were refused while another did not fit", refused, tries)
	}
}

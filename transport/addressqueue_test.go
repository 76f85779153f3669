package transport

import (
	"bytes"
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
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 1000, closeTimeout: 1, heartbeat: 1, stats: new(counters)})
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

	// Written: the 200 own bytes go with the first write that leaves
	// the queue shorter than them.
	n := 0
	for _, f := range c1.batch(nil, maxBatch) {
		n += len(f)
	}
	c1.written(100)
	if got := a.Queued(); got != 450 {
		t.Fatalf("after 100 bytes written of a queue of %d the address holds %d, want 450", n, got)
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

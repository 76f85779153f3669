package transport

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkOwnFrameQueue is BenchmarkFrameQueue on every core at once,
// each goroutine a connection of its own: frames of the connection's own
// with no address bound, the same counted in one AddressQueue all the
// connections share (one address's), and those alternating with a
// fan-out's frames, each own frame a run of its own (ownbytes.go).
func BenchmarkOwnFrameQueue(b *testing.B) {
	for _, bc := range []struct {
		name          string
		counted, fans bool
	}{{"uncounted", false, false}, {"oneaddress", true, false}, {"oneaddress-mixed", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			a := NewAddressQueue(1 << 40)
			f := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 200)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1, stats: new(counters)})
				if bc.counted {
					c.received(addressReceiver{&textRecorder{}, a})
				}
				scratch := make([][]byte, 0, maxBatch)
				for pb.Next() {
					for i := range 16 {
						sent := false
						if bc.fans && i%2 == 1 {
							sent = c.SendDeferred(f, nil)
						} else {
							sent = c.Send(f)
						}
						if !sent {
							b.Fatal("Send refused")
						}
					}
					scratch = c.batch(scratch[:0], maxBatch)
					n := 0
					for _, s := range scratch {
						n += len(s)
					}
					if empty, _ := c.written(n); !empty {
						b.Fatal("queue not drained")
					}
				}
			})
			if got := a.Queued(); got != 0 {
				b.Fatalf("the address holds %d bytes once every queue was written", got)
			}
		})
	}
}

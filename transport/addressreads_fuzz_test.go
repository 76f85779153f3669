package transport

import "testing"

// boundedReceiver names reads as its connection's address bound.
type boundedReceiver struct{ reads *AddressReads }

func (r boundedReceiver) HandleText([]byte)           {}
func (r boundedReceiver) AllowPing() bool             { return true }
func (r boundedReceiver) Disconnected()               {}
func (r boundedReceiver) AddressReads() *AddressReads { return r.reads }

// FuzzReaderCountsWhatItHolds feeds arbitrary bytes, cut in three reads,
// to a connection's readData, paced or not, with permessage-deflate or
// not, under an address bound that some inputs cross, and checks after
// each read that the address counts what the connection's reader says it
// counted, no more than it holds while the connection is open, that the
// clock of an unfinished message runs exactly while a frame is in part or
// a fragmented message open, and that the address counts nothing once the
// reader is let go: whatever ends the connection (an error, the bound,
// the client's close), nothing stays counted against its address.
func FuzzReaderCountsWhatItHolds(f *testing.F) {
	f.Add(validStream(), 5, 3, uint8(1), 100)
	for _, tc := range malformedCases {
		f.Add(tc.input, 3, 7, uint8(0), 50)
	}
	compressed, _ := validCompressedStream()
	f.Add(compressed, 9, 2, uint8(3), 300)
	f.Fuzz(func(t *testing.T, in []byte, cut1, cut2 int, mode uint8, bound int) {
		lim := &limits{maxText: 2 * testMaxMessage, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1, fragments: 1 << 40}
		c := newConn(nopDriver{}, lim)
		c.deflate = mode&1 != 0
		reads := NewAddressReads(int(uint(bound)%4096) + 1)
		c.recv = boundedReceiver{reads}
		budget := anyFrames
		if mode&2 != 0 {
			budget = 1 + int(mode>>2)%3
		}
		data := append([]byte(nil), in...)
		a := int(uint(cut1) % uint(len(data)+1))
		b := a + int(uint(cut2)%uint(len(data)-a+1))
		for _, part := range [][]byte{data[:a], data[a:b], data[b:]} {
			for next, i := part, 0; len(part) > 0; next, i = nil, i+1 {
				c.readData(next, budget)
				checkReaderCount(t, c, reads)
				if !c.holding() || c.isClosing() || i > len(in) {
					break
				}
			}
		}
		c.letReaderGo()
		if n := reads.Held(); n != 0 {
			t.Fatalf("the address counts %d bytes once the reader is gone", n)
		}
	})
}

func checkReaderCount(t *testing.T, c *conn, reads *AddressReads) {
	t.Helper()
	var counted int64
	unfinished := false
	if r := c.in; r != nil {
		counted = int64(r.addressHeld)
		if !c.isClosing() && r.addressHeld > r.holds() {
			t.Fatalf("the reader counted %d bytes and holds %d", r.addressHeld, r.holds())
		}
		unfinished = r.fragmented || len(r.partial) > 0 && !r.held
	}
	if n := reads.Held(); n != counted {
		t.Fatalf("the address counts %d bytes, the reader %d", n, counted)
	}
	if !c.isClosing() && (c.msgSince.Load() != 0) != unfinished {
		t.Fatalf("unfinished message's clock at %d with a frame in part or a fragmented message: %v", c.msgSince.Load(), unfinished)
	}
}

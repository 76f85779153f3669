package transport

import (
	"bytes"
	"testing"
	"time"
)

// A compressed message counts toward the read pace once per 16 KiB it
// inflates to: 200 bytes that inflate to 80 KB count as five commands, so
// a client cannot make the node inflate and parse megabytes a second for
// a few kilobytes of its bandwidth. Nothing is dropped: what waits is
// read, in order, once the pace allows it.
func TestCompressedMessagesArePacedByWhatTheyInflateTo(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const rate = 10 // read 20 paced frames a second, bursts of 40
		ts := startServer(t, portable, Config{CommandRate: rate, MaxMessageBytes: 64 << 10})
		c := dialDeflate(t, ts.addr)
		text := append(append([]byte(`"`), bytes.Repeat([]byte("a"), 80_000)...), '"')
		perMessage := 1 + (len(text)-1)/inflatedPerPace // 5
		const sent = 16
		var blob []byte
		for range sent {
			blob = append(blob, compressedFrame(0x1, true, mustDeflate(text))...)
		}
		if len(blob) > 16*400 {
			t.Fatalf("%d messages compress to %d bytes: not the small upload this is about", sent, len(blob))
		}
		wantReadAtPace(t, ts, c, blob, rate, sent, perMessage)
	})
}

// A plain message counts toward the read pace once per 16 KiB too: the
// client's bandwidth bounds it, but loosely (one connection had 243
// messages of 130 KB a second parsed, 16 % of a two-core node).
func TestPlainMessagesArePacedByTheirSize(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const rate = 10 // read 20 paced frames a second, bursts of 40
		ts := startServer(t, portable, Config{CommandRate: rate, MaxMessageBytes: 64 << 10})
		c := dialRaw(t, ts.addr, nil)
		text := append(append([]byte(`"`), bytes.Repeat([]byte("a"), 80_000)...), '"')
		perMessage := 1 + (len(text)-1)/inflatedPerPace // 5
		const sent = 16
		var blob []byte
		for range sent {
			blob = append(blob, frame(0x1, true, text)...)
		}
		wantReadAtPace(t, ts, c, blob, rate, sent, perMessage)
	})
}

// wantReadAtPace writes blob, sent messages that each count as perMessage
// paced frames, on c, and checks that ts reads them all, never faster
// than a connection paced at rate commands a second may be read, and
// keeps the connection.
func wantReadAtPace(t *testing.T, ts *testServer, c *rawClient, blob []byte, rate, sent, perMessage int) {
	t.Helper()
	start := time.Now()
	c.write(blob)
	eventually(t, "the session opened", func() bool { return len(ts.acc.all()) == 1 })
	s := ts.acc.all()[0]
	eventually(t, "every message read", func() bool {
		n := s.texts.Load()
		tokens := paceFactor*2*float64(rate) + paceFactor*float64(rate)*time.Since(start).Seconds()
		if bound := tokens/float64(perMessage) + 1; float64(n) > bound {
			t.Fatalf("%d messages read, over the pace's %.1f for messages of %d paced frames", n, bound, perMessage)
		}
		return n == int64(sent)
	})
	if s.disconnected.Load() != 0 {
		t.Error("the connection was closed")
	}
}

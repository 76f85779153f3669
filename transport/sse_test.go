package transport

import (
	"bytes"
	"testing"

	"github.com/herald-broker/herald/broker"
)

func sseConn(maxQueue int) *conn {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: maxQueue, closeTimeout: 1, heartbeat: 1, stats: new(counters)})
	c.sse = true
	return c
}

// TestStreamOverflowKeepsTheEventOnTheWire: a slow reader's stream is cut
// at an event boundary: an event whose first part went out, even whole,
// is finished before the close event, and nothing else is kept.
func TestStreamOverflowKeepsTheEventOnTheWire(t *testing.T) {
	shared, own := []byte("data: {\"n\":1}\n"), []byte("id: 1.a\n\n")
	for _, tc := range []struct {
		name    string
		written int    // bytes of the first event written before the overflow
		want    []byte // what the next batch writes
	}{
		{"nothing written", 0, nil},
		{"first part half written", 5, append(append([]byte(nil), shared[5:]...), own...)},
		{"first part whole", len(shared), own},
		{"own part half written", len(shared) + 3, own[3:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sseConn(64)
			if !c.SendPair(shared, own) {
				t.Fatal("the first event was refused")
			}
			if tc.written > 0 {
				c.batch(nil, maxBatch)
				c.written(tc.written)
			}
			for c.SendPair(shared, own) {
			}
			var got []byte
			for _, f := range c.batch(nil, maxBatch) {
				got = append(got, f...)
			}
			want := append(append([]byte(nil), tc.want...), sseCloseEvent(broker.CloseSlowConsumer)...)
			if !bytes.Equal(got, want) {
				t.Fatalf("batch %q, want %q", got, want)
			}
		})
	}
}

// TestStreamPairIsOneUnit: both parts of an event are queued or neither,
// even when only the first would fit.
func TestStreamPairIsOneUnit(t *testing.T) {
	c := sseConn(20)
	if c.SendPair(make([]byte, 15), make([]byte, 10)) {
		t.Fatal("a pair over the bound was taken")
	}
	if n := len(c.outLocked().frames); n != 0 || !c.isClosing() {
		t.Fatalf("%d frames queued, closing %v", n, c.isClosing())
	}
}

// TestStreamInputIsBounded: what an SSE client sends is dropped unread,
// and past maxStreamInput the stream closes with 1008.
func TestStreamInputIsBounded(t *testing.T) {
	c := sseConn(1 << 10)
	c.readData(make([]byte, maxStreamInput), anyFrames)
	if c.isClosing() {
		t.Fatal("closed within the bound")
	}
	c.readData([]byte{1}, anyFrames)
	batch := c.batch(nil, maxBatch)
	if len(batch) != 1 || !bytes.Equal(batch[0], sseCloseEvent(broker.ClosePolicyViolation)) {
		t.Fatalf("batch %q, want the 1008 close event", batch)
	}
}

// TestStreamSweepPingsAndNeverTimesOut: a silent SSE client is not one
// that stopped answering: the sweep pings it with a comment and never
// closes it with 4002.
func TestStreamSweepPingsAndNeverTimesOut(t *testing.T) {
	c := sseConn(1 << 10)
	c.lastHeard.Store(0)
	if c.sweep(monoNow()+int64(1<<40), true) || c.isClosing() {
		t.Fatal("a silent stream was closed")
	}
	if batch := c.batch(nil, maxBatch); len(batch) != 1 || !bytes.Equal(batch[0], ssePing) {
		t.Fatalf("batch %q, want the ping comment", batch)
	}
}

// floodAcceptor opens a stream by queueing frames, as a stream's first
// event and the history and messages held while it opened are queued
// before its connection is written to.
type floodAcceptor struct{ frames [][]byte }

func (a floodAcceptor) OpenStream(c broker.Conn, _ broker.ClientInfo) Receiver {
	for _, f := range a.frames {
		c.Send(f)
	}
	return &textRecorder{}
}

// TestStreamOverflowBeforeItsFirstWriteKeepsItsHead: a stream whose
// queue overflows while it opens, before a byte went out, still answers
// with its response head and its first event, then the close event: the
// head dropped, the client read "event: close" where the status line
// should be.
func TestStreamOverflowBeforeItsFirstWriteKeepsItsHead(t *testing.T) {
	head := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
	first := []byte("event: subscribed\ndata: {}\nid: 1\n\n")
	held := bytes.Repeat([]byte("x"), 60)
	held = append(append([]byte("data: "), held...), "\nid: 1\n\n"...)
	c := sseConn(256)
	(&Server{}).opened(c, opening{stream: floodAcceptor{frames: [][]byte{first, held, held, held}}, head: head})
	if !c.isClosing() {
		t.Fatal("the stream did not overflow")
	}
	var got []byte
	for _, f := range c.batch(nil, maxBatch) {
		got = append(got, f...)
	}
	want := append(append(append([]byte(nil), head...), first...), sseCloseEvent(broker.CloseSlowConsumer)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("batch %q, want %q", got, want)
	}
}

package transport

import (
	"testing"

	"github.com/gobwas/ws"
)

type textRecorder struct{ texts []string }

func (r *textRecorder) HandleText(p []byte) { r.texts = append(r.texts, string(p)) }
func (r *textRecorder) AllowPing() bool     { return true }
func (r *textRecorder) Disconnected()       {}

// TestReaderStateIsKeptOnlyMidFrame: a frame split over three reads and a
// message split over two frames arrive whole, and between them the
// connection keeps no reader.
func TestReaderStateIsKeptOnlyMidFrame(t *testing.T) {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1})
	rec := &textRecorder{}
	c.recv = rec
	whole := frame(ws.OpText, true, []byte("hello, split"))
	c.readData(append([]byte(nil), whole[:3]...), anyFrames)
	if c.in == nil {
		t.Fatal("half a frame was not kept")
	}
	c.readData(append([]byte(nil), whole[3:7]...), anyFrames)
	c.readData(append([]byte(nil), whole[7:]...), anyFrames)
	if c.in != nil {
		t.Fatal("a reader is kept after a complete frame")
	}
	c.readData(frame(ws.OpText, false, []byte("frag")), anyFrames)
	if c.in == nil {
		t.Fatal("the first fragment of a message was not kept")
	}
	c.readData(frame(ws.OpContinuation, true, []byte("mented")), anyFrames)
	if c.in != nil {
		t.Fatal("a reader is kept after a complete message")
	}
	if len(rec.texts) != 2 || rec.texts[0] != "hello, split" || rec.texts[1] != "fragmented" {
		t.Fatalf("got %q", rec.texts)
	}
}

// TestSweepFreesTheQueueArrayOfAnIdleConnection: a connection sent to
// since the last sweep keeps its queue (the next fan-out appends
// without allocating); one that got nothing for a whole sweep drops it.
func TestSweepFreesTheQueueArrayOfAnIdleConnection(t *testing.T) {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1 << 40})
	f := ws.MustCompileFrame(ws.NewTextFrame([]byte("m")))
	c.Send(f)
	c.written(len(f))
	c.sweep(monoNow(), false)
	if c.out == nil {
		t.Fatal("the queue of a connection busy since the last sweep was dropped")
	}
	c.sweep(monoNow(), false)
	if c.out != nil {
		t.Fatal("the queue of a connection idle for a whole sweep is kept")
	}
}

package transport

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

type nopSink struct{ texts int }

func (s *nopSink) onText([]byte)         { s.texts++ }
func (s *nopSink) onPing([]byte)         {}
func (s *nopSink) onPong([]byte)         {}
func (s *nopSink) onClose(ws.StatusCode) {}
func (s *nopSink) onMessagePending(bool) {}

// BenchmarkFrameRead parses a read buffer of 64 masked text frames, as an
// event loop does after one read. It must not allocate.
func BenchmarkFrameRead(b *testing.B) {
	for _, size := range []int{32, 512, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			var tmpl []byte
			for i := 0; i < 64; i++ {
				tmpl = append(tmpl, frame(ws.OpText, true, bytes.Repeat([]byte("a"), size))...)
			}
			buf := make([]byte, len(tmpl))
			var r frameReader
			sink := &nopSink{}
			b.SetBytes(int64(len(tmpl)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, tmpl) // the socket's bytes land in the loop's buffer
				if _, _, err := r.feed(buf, 1<<20, anyFrames, sink); err != nil {
					b.Fatal(err)
				}
			}
			if sink.texts == 0 {
				b.Fatal("nothing parsed")
			}
		})
	}
}

type nopDriver struct{}

func (nopDriver) schedule(*conn) {}

// BenchmarkFrameQueue is the write path without the syscall: 16 shared
// frames sent, batched for one writev and marked written. It must not
// allocate.
func BenchmarkFrameQueue(b *testing.B) {
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}
	c := newConn(nopDriver{}, lim)
	f := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 200)))
	scratch := make([][]byte, 0, maxBatch)
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < 16; i++ {
			if !c.Send(f) {
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
}

// TestReadAndQueueDoNotAllocate holds the benchmarks' promise in the suite:
// parsing complete frames and queueing shared ones allocate nothing.
func TestReadAndQueueDoNotAllocate(t *testing.T) {
	var tmpl []byte
	for i := 0; i < 8; i++ {
		tmpl = append(tmpl, frame(ws.OpText, true, []byte("steady state"))...)
	}
	buf := make([]byte, len(tmpl))
	var r frameReader
	sink := &nopSink{}
	read := testing.AllocsPerRun(100, func() {
		copy(buf, tmpl)
		if _, _, err := r.feed(buf, 1<<20, anyFrames, sink); err != nil {
			t.Fatal(err)
		}
	})
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1})
	f := ws.MustCompileFrame(ws.NewTextFrame([]byte("m")))
	scratch := make([][]byte, 0, maxBatch)
	queue := testing.AllocsPerRun(100, func() {
		for i := 0; i < 16; i++ { // a burst: the queue array is kept
			c.Send(f)
		}
		scratch = c.batch(scratch[:0], maxBatch)
		c.written(16 * len(f))
	})
	if read != 0 || queue != 0 {
		t.Fatalf("allocations per run: read %v, queue %v; want 0", read, queue)
	}
}

func TestSweepFreesAnIdleConnectionsBurstArray(t *testing.T) {
	c := newConn(nopDriver{}, &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1 << 40})
	f := ws.MustCompileFrame(ws.NewTextFrame([]byte("m")))
	for i := 0; i < 16; i++ {
		c.Send(f)
	}
	c.written(16 * len(f))
	if cap(c.out.frames) < 16 {
		t.Fatalf("queue array dropped right after the burst (cap %d)", cap(c.out.frames))
	}
	c.sweep(monoNow(), false)
	if c.out != nil && cap(c.out.frames) > len(c.out.first) {
		t.Fatalf("idle connection keeps a %d-frame array after a sweep", cap(c.out.frames))
	}
}

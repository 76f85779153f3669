package bench

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// loopConn is a net.Conn whose reads replay one stream forever.
type loopConn struct {
	net.Conn
	stream []byte
	off    int
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := copy(p, l.stream[l.off:])
	l.off = (l.off + n) % len(l.stream)
	return n, nil
}

// BenchmarkReadDelivery is the tool's work per delivered message once the
// socket read returned: frame parsing, field scanning and counting.
func BenchmarkReadDelivery(b *testing.B) {
	msg := []byte(`{"type":"message","topic":"bench.3","epoch":"e7f3","seq":42,"msg":"0f8e1f2a-5c39-4d0e-9a8b-1f2e3d4c5b6a","time":1764074400123,"data":{"t":1764074400123456789,"n":7}}`)
	stream, n := benchStream(b, msg)
	c := &wsConn{nc: &loopConn{stream: stream}, buf: make([]byte, readBufSize)}
	wk := &worker{plan: Plan{Topics: 1}, perTopic: make([]atomic.Uint64, 1)}
	b.ReportAllocs()
	b.SetBytes(int64(n))
	const seq = 41
	for i := 0; i < b.N; i++ {
		m, at, err := c.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if string(msgType(m)) == "message" {
			wk.onDelivery(m, at.Add(time.Millisecond), 0, seq)
		}
	}
}

// The hot read path allocates nothing: gobwas/ws reads the header out of
// the buffer through a reader and scratch space the connection keeps.
func TestReadMessageAllocatesNothing(t *testing.T) {
	stream, _ := benchStream(t, []byte(`{"type":"message","seq":1}`))
	c := &wsConn{nc: &loopConn{stream: stream}, buf: make([]byte, readBufSize)}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadMessage allocates %v times a message", allocs)
	}
}

package broker

import (
	"sync/atomic"
	"testing"
)

// deferConn is a DeferredConn whose writer is one of two fake loops; it
// counts the frames it holds and whether they were queued before the
// loop's Flush.
type deferConn struct {
	loop   *fakeLoop
	frames atomic.Int64
}

func (c *deferConn) Send([]byte) bool  { c.frames.Add(1); c.loop.woken.Add(1); return true }
func (c *deferConn) Close(int, string) {}

func (c *deferConn) SendDeferred(_ []byte, b *Batch) bool {
	c.frames.Add(1)
	c.loop.queued.Add(1)
	b.Add(c.loop)
	return true
}

type fakeLoop struct {
	queued  atomic.Int64 // frames queued since the last Flush
	flushes atomic.Int64
	woken   atomic.Int64 // Send calls: a wake-up each
	atFlush []int64      // queued when each Flush came
}

func (l *fakeLoop) Flush() {
	l.flushes.Add(1)
	l.atFlush = append(l.atFlush, l.queued.Swap(0))
}

// TestFanoutWakesEachWriterOnceAfterQueueing: 1,000 subscribers on two
// loops cost two Flush calls per message, each after all of its loop's
// frames were queued, and no Send.
func TestFanoutWakesEachWriterOnceAfterQueueing(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	loops := []*fakeLoop{{}, {}}
	const n = 1000
	for i := range n {
		c := &deferConn{loop: loops[i%2]}
		s := b.Connect(c, ClientInfo{})
		sub := &subscription{session: s, pattern: "t", exact: true}
		s.addLocked(sub)
		b.index(sub)
	}
	for _, l := range loops {
		l.woken.Store(0) // the welcomes
		l.queued.Store(0)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		b.HandleMessage(&Message{Topic: "t", Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
	}
	for i, l := range loops {
		if got := l.flushes.Load(); got != 3 {
			t.Errorf("loop %d flushed %d times for 3 messages, want 3", i, got)
		}
		for _, q := range l.atFlush {
			if q != n/2 {
				t.Errorf("loop %d had %d frames queued at its Flush, want %d", i, q, n/2)
			}
		}
		if got := l.woken.Load(); got != 0 {
			t.Errorf("loop %d got %d Sends during fan-out, want none", i, got)
		}
	}
}

// plainConn has no SendDeferred: fan-out falls back to Send.
type plainConn struct{ frames atomic.Int64 }

func (c *plainConn) Send([]byte) bool  { c.frames.Add(1); return true }
func (c *plainConn) Close(int, string) {}

func TestFanoutSendsToConnsThatCannotDefer(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	c := &plainConn{}
	s := b.Connect(c, ClientInfo{})
	sub := &subscription{session: s, pattern: "t", exact: true}
	s.addLocked(sub)
	b.index(sub)
	b.HandleMessage(&Message{Topic: "t", Epoch: "e", Seq: 1, ID: "id", Data: []byte(`1`)})
	if got := c.frames.Load(); got != 2 { // welcome and the message
		t.Fatalf("got %d frames, want 2", got)
	}
}

// BenchmarkFanoutDeferred is BenchmarkFanout through SendDeferred, the
// path the epoll transport takes: still no allocation per subscriber.
func BenchmarkFanoutDeferred(b *testing.B) {
	br, _ := newTestBroker(b, Config{})
	loops := []*fakeLoop{{}, {}}
	const n = 10_000
	for i := range n {
		s := br.Connect(&deferConn{loop: loops[i%2]}, ClientInfo{})
		sub := &subscription{session: s, pattern: "t", exact: true}
		s.addLocked(sub)
		br.index(sub)
	}
	m := &Message{Topic: "t", Epoch: "e", ID: "0b3e8f0e-6c1b-4f4e-9d7c-1f2e3d4c5b6a", Time: 1764074400123, Data: []byte(`{"text":"hi"}`)}
	b.ReportAllocs()
	for b.Loop() {
		m.Seq++
		br.HandleMessage(m)
		for _, l := range loops {
			l.atFlush = l.atFlush[:0]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// TestPresenceChangeWakesEachWriterOnceAfterQueueing: a join goes to 1,000
// presence:true subscribers on two loops as a message does: queued on
// every connection, then one Flush per loop, and no Send.
func TestPresenceChangeWakesEachWriterOnceAfterQueueing(t *testing.T) {
	b, _ := newTestBroker(t, Config{PresenceTopics: []string{"t"}})
	loops := []*fakeLoop{{}, {}}
	const n = 1000
	conns := make([]*deferConn, n)
	for i := range n {
		conns[i] = &deferConn{loop: loops[i%2]}
		s := b.Connect(conns[i], ClientInfo{})
		sub := &subscription{session: s, pattern: "t", exact: true, presence: true}
		s.addLocked(sub)
		b.index(sub)
	}
	for _, l := range loops {
		l.woken.Store(0) // the welcomes
		l.queued.Store(0)
	}
	b.HandlePresence(PresenceChange{Topic: "t", User: "u", Join: true, Session: "x"})
	for i, l := range loops {
		if got := l.flushes.Load(); got != 1 {
			t.Errorf("loop %d flushed %d times for one join, want 1", i, got)
		}
		if len(l.atFlush) != 1 || l.atFlush[0] != n/2 {
			t.Errorf("loop %d had %v frames queued at its Flush, want %d", i, l.atFlush, n/2)
		}
		if got := l.woken.Load(); got != 0 {
			t.Errorf("loop %d got %d Sends for the join, want none", i, got)
		}
	}
	for i, c := range conns {
		if got := c.frames.Load(); got != 2 { // the welcome and the join
			t.Fatalf("connection %d got %d frames, want 2", i, got)
		}
	}
}

// BenchmarkPresenceFanout sends a join to 10,000 presence:true
// subscribers on two fake loops; wakes/op counts the loop wake-ups it
// costs (a Send each, or a Flush per loop).
func BenchmarkPresenceFanout(b *testing.B) {
	br, _ := newTestBroker(b, Config{PresenceTopics: []string{"t"}})
	loops := []*fakeLoop{{}, {}}
	const n = 10_000
	for i := range n {
		s := br.Connect(&deferConn{loop: loops[i%2]}, ClientInfo{})
		sub := &subscription{session: s, pattern: "t", exact: true, presence: true}
		s.addLocked(sub)
		br.index(sub)
	}
	for _, l := range loops {
		l.woken.Store(0) // the welcomes
	}
	c := PresenceChange{Topic: "t", User: "u", Info: []byte(`{"name":"u"}`), Join: true, Session: "x"}
	b.ReportAllocs()
	for b.Loop() {
		br.HandlePresence(c)
		for _, l := range loops {
			l.atFlush = l.atFlush[:0]
		}
	}
	wakes := int64(0)
	for _, l := range loops {
		wakes += l.woken.Load() + l.flushes.Load()
	}
	b.ReportMetric(float64(wakes)/float64(b.N), "wakes/op")
}

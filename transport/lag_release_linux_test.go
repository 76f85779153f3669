//go:build linux

package transport

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// While publishers are held for another node, a loop's passes wake none
// of them: one client whose commands get replies makes a pass each, and
// with thousands of waiting publishers, waking each to find itself still
// held cost more than a core. The end of the hold wakes them.
func TestHeldPublishersAreNotWokenForNothing(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	c := dialRaw(t, ts.addr, nil)
	s := ts.srv
	s.SetOthersBehind(OthersBehind{All: true}) // held, as another node's word would hold it
	opened := s.othersGate.enter()             // a publisher waits
	defer s.othersGate.waiting.Add(-1)
	for range 50 { // 50 replies: at least 49 passes ended
		c.write(frame(ws.OpText, true, []byte("{}")))
		c.text()
	}
	select {
	case <-opened:
		t.Fatal("a pass woke the waiting publishers while they were held")
	default:
	}
	s.SetOthersBehind(OthersBehind{})
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the end of the hold did not wake the waiting publishers")
	}
}

// Whatever ends a hold lets the waiting publishers go at once, not at the
// end of their wait: a pass that caught the loop up, its lag tick, the
// other nodes' word withdrawn, the loop's exit at shutdown. The loops are
// the tests' own, without a goroutine, so that nothing else moves their
// stamps.
func TestWaitingPublishersGoWhenTheHoldEnds(t *testing.T) {
	const bound = time.Second // a wait of up to 10 s: a publisher left waiting fails
	old := func() int64 { return monoNow() - int64(2*bound) }
	for _, tc := range []struct {
		name string
		hold func(s *Server, l *loop)
		end  func(s *Server, l *loop)
	}{
		{"pass", func(_ *Server, l *loop) { l.lag.pending.Store(old()) },
			func(_ *Server, l *loop) {
				l.pending = append(l.pending, newConn(l, testLimits)) // not registered yet: passed by
				l.flushPending()
			}},
		{"tick",
			func(_ *Server, l *loop) { l.lag.readers.Store(old()) },
			func(_ *Server, l *loop) { l.lagTick(monoNow()) }}, // no reader watched any more: no reader lag
		{"others",
			func(s *Server, _ *loop) { s.SetOthersBehind(OthersBehind{All: true}) },
			func(s *Server, _ *loop) { s.SetOthersBehind(OthersBehind{}) }},
		{"others' topics",
			func(s *Server, _ *loop) { s.SetOthersBehind(OthersBehind{Topics: []string{"t", "u"}}) },
			func(s *Server, _ *loop) { s.SetOthersBehind(OthersBehind{Topics: []string{"u"}}) }},
		{"shutdown",
			func(_ *Server, l *loop) { l.lag.pass.Store(old()) },
			func(_ *Server, l *loop) { l.closePoller() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLoop(t)
			s := &Server{loops: []*loop{l}, stats: new(counters), lagCfg: newLagSettings(bound)}
			l.srv = s
			tc.hold(s, l)
			waited := waitBehind(t, s)
			tc.end(s, l)
			if err := <-waited; err != nil {
				t.Fatalf("Wait once the hold ended: %v", err)
			}
		})
	}
}

// waitBehind starts a publisher's Wait on s, which must be held, and
// returns its result once it is waiting.
func waitBehind(t *testing.T, s *Server) <-chan error {
	t.Helper()
	if !s.held("t") {
		t.Fatal("setup: publishers are not held")
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(context.Background(), "t") }()
	eventually(t, "a publisher waits", func() bool { return s.gate.waiting.Load()+s.othersGate.waiting.Load() == 1 })
	return waited
}

package broker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// eventLog keeps the connection events a broker reports, in order.
type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (l *eventLog) TopicHeld(string) {}
func (l *eventLog) TopicLeft(string) {}

func (l *eventLog) ClientConnected(session, _ string) {
	l.add("connected " + session)
}

func (l *eventLog) ClientDisconnected(session, _ string, code int) {
	l.add(fmt.Sprintf("disconnected %s %d", session, code))
}

func (l *eventLog) add(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, ev)
}

func (l *eventLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// closingEventConn is an SSE connection that keeps the code it was
// closed with.
type closingEventConn struct {
	eventConn
	mu   sync.Mutex
	code int
}

func (c *closingEventConn) Close(code int, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code == 0 {
		c.code = code
	}
}

// A stream whose patterns are found past MaxMatchingPatterns before it
// started is closed with 1008, and is then neither found by the
// backend's controls nor reported connected after its end: a backend
// told client_disconnected and then nothing would take the connection
// for open, and the broker would keep the session for good.
func TestStreamClosedBeforeItStartedIsNotListed(t *testing.T) {
	log := &eventLog{}
	b, _ := newTestBroker(t, Config{Events: log})
	o, err := b.OpenStream(context.Background(), ClientInfo{}, overlappingPatterns(MaxMatchingPatterns+1), "")
	if err != nil {
		t.Fatal(err)
	}
	b.HandleMessage(msg(overlapTopic, 1))
	c := &closingEventConn{}
	s := o.Start(c)
	c.mu.Lock()
	code := c.code
	c.mu.Unlock()
	if code != ClosePolicyViolation {
		t.Fatalf("closed with %d, want %d", code, ClosePolicyViolation)
	}
	s.DisconnectedWith(code) // what transport does once the connection ended
	if found := b.sessions.find("", s.ID()); len(found) != 0 {
		t.Error("the closed stream's session is still listed for controls")
	}
	if got := b.Stats().Connections; got != 0 {
		t.Errorf("%d connections counted, want 0", got)
	}
	if got := log.events(); len(got) != 0 {
		t.Errorf("events %q for a stream that never started, want none", got)
	}
}

// Two closes of one connection at once, as two fan-outs of topics that
// each find its patterns past the bound, or one of them and the end of
// the connection, report its end once.
func TestConcurrentClosesReportTheEndOnce(t *testing.T) {
	log := &eventLog{}
	b, _ := newTestBroker(t, Config{Events: log})
	const sessions = 5000
	all := make([]*Session, sessions)
	for i := range all {
		all[i] = b.Connect(&countConn{}, ClientInfo{})
	}
	// Two closers go through the sessions in step, each waiting for the
	// other at every one, so that their closes of it start together.
	var arrived atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, s := range all {
				arrived.Add(1)
				for spins := 0; arrived.Load() < int64(2*(i+1)); spins++ {
					if spins > 100_000 {
						runtime.Gosched() // one P may run both
					}
				}
				s.DisconnectedWith(ClosePolicyViolation)
			}
		}()
	}
	wg.Wait()
	ended := 0
	for _, ev := range log.events() {
		if strings.HasPrefix(ev, "disconnected ") {
			ended++
		}
	}
	if ended != sessions {
		t.Errorf("%d ends reported for %d connections", ended, sessions)
	}
}

package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A queue's stamp is set when it goes non-empty, kept while frames come,
// moved up once a write took everything queued before it, and cleared when
// the queue drains.
func TestQueueStampBoundsTheOldestFrame(t *testing.T) {
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: time.Second, heartbeat: time.Second}
	c := newConn(nopDriver{}, lim)
	if c.since.Load() != 0 {
		t.Fatal("an empty queue has a stamp")
	}
	frame := []byte{0x81, 1, 'x'}
	c.Send(frame)
	first := c.since.Load()
	if first == 0 {
		t.Fatal("the first frame left no stamp")
	}
	c.Send(frame)
	if c.since.Load() != first {
		t.Fatal("a second frame moved the stamp of the first")
	}
	batch := c.batch(nil, maxBatch)
	at := monoNow()
	c.Send(frame) // queued after the write began
	if empty, _ := c.writtenOf(2*len(frame), len(batch), at); empty {
		t.Fatal("the third frame was lost")
	}
	if got := c.since.Load(); got != at {
		t.Fatalf("stamp %d after a whole batch went out, want the write's start %d", got, at)
	}
	batch = c.batch(nil, maxBatch)
	if empty, _ := c.writtenOf(1, len(batch), monoNow()); empty || c.since.Load() != at {
		t.Fatal("a write that left part of a frame moved the stamp")
	}
	if empty, _ := c.written(len(frame) - 1); !empty || c.since.Load() != 0 {
		t.Fatal("a drained queue kept its stamp")
	}
}

func TestLoopLagIsItsOldestStamp(t *testing.T) {
	var g loopLag
	if g.oldest(true) != 0 {
		t.Fatal("no stamp, yet a lag")
	}
	g.pass.Store(30)
	g.blocked.Store(20)
	g.pending.Store(40)
	if got := g.oldest(true); got != 20 {
		t.Fatalf("oldest %d, want 20", got)
	}
	if got := g.oldest(false); got != 30 {
		t.Fatalf("oldest without the waiting connections %d, want 30", got)
	}
}

// A reader that keeps reading but stays behind shows in the lag, yet holds
// no publisher back: only the loops' own backlog does.
func TestWaitIgnoresReadersBehind(t *testing.T) {
	s, l := lagServer(10 * time.Millisecond)
	l.lag.blocked.Store(monoNow() - int64(time.Second))
	if s.DeliveryLag() < time.Second {
		t.Fatalf("lag %v, want the reader's second", s.DeliveryLag())
	}
	if err := s.Wait(context.Background(), "t"); err != nil {
		t.Fatalf("Wait behind a slow reader: %v", err)
	}
}

// lagServer is a Server with one loop whose stamps the test sets, waiting
// at a bound of bound.
func lagServer(bound time.Duration) (*Server, *loop) {
	l := &loop{}
	return &Server{loops: []*loop{l}, stats: new(counters), lagCfg: newLagSettings(bound)}, l
}

func TestWaitPassesAtOnceWithinTheBound(t *testing.T) {
	s, l := lagServer(time.Hour)
	l.lag.pending.Store(monoNow())
	if err := s.Wait(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PublishWaits != 0 || st.PublishRefused != 0 {
		t.Fatalf("waits %d, refused %d; want none", st.PublishWaits, st.PublishRefused)
	}
}

func TestWaitHoldsUntilTheLoopCatchesUp(t *testing.T) {
	s, l := lagServer(10 * time.Millisecond)
	l.lag.pending.Store(monoNow() - int64(time.Hour)) // may be negative: only 0 means none
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), "t") }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v while the loop was behind", err)
	case <-time.After(5 * time.Millisecond):
	}
	l.lag.pending.Store(0) // caught up, as the end of a pass finds
	s.gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PublishWaits != 1 || st.PublishRefused != 0 {
		t.Fatalf("waits %d, refused %d; want 1 and 0", st.PublishWaits, st.PublishRefused)
	}
}

func TestWaitGivesUpOnALoopThatStaysBehind(t *testing.T) {
	s, l := lagServer(time.Millisecond)
	l.lag.pass.Store(monoNow() - int64(time.Hour))
	if err := s.Wait(context.Background(), "t"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Wait = %v, want ErrOverloaded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx, "t"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context = %v", err)
	}
	if st := s.Stats(); st.PublishWaits != 2 || st.PublishRefused != 2 || st.DeliveryLag <= 0 {
		t.Fatalf("waits %d, refused %d, lag %v; want 2, 2 and a lag", st.PublishWaits, st.PublishRefused, st.DeliveryLag)
	}
}

func TestNoBoundNeverWaits(t *testing.T) {
	s, l := lagServer(-1)
	l.lag.pass.Store(monoNow() - int64(time.Hour))
	if err := s.Wait(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
}

// Another node behind holds the publishes to the topics it delivers, and
// only those (or all of them when it said "all"); a publish to another
// topic goes at once and allocates nothing on the way.
func TestOthersBehindHoldTheirTopicsOnly(t *testing.T) {
	s, _ := lagServer(time.Millisecond) // a held publish is refused after minWait
	s.SetOthersBehind(OthersBehind{Topics: []string{"hot", "warm"}})
	if allocs := testing.AllocsPerRun(100, func() {
		if err := s.Wait(context.Background(), "cold"); err != nil {
			t.Fatalf("Wait for a topic no node behind delivers: %v", err)
		}
	}); allocs != 0 {
		t.Errorf("Wait for a topic not held allocated %v times", allocs)
	}
	for _, topic := range []string{"hot", "warm"} {
		if err := s.Wait(context.Background(), topic); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("Wait for %s, which another node behind delivers: %v, want ErrOverloaded", topic, err)
		}
	}
	s.SetOthersBehind(OthersBehind{All: true})
	if err := s.Wait(context.Background(), "cold"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Wait for any topic while a node is behind on all: %v, want ErrOverloaded", err)
	}
	if st := s.Stats(); st.PublishWaits != 3 || st.PublishRefused != 3 {
		t.Fatalf("waits %d, refused %d; want 3 and 3", st.PublishWaits, st.PublishRefused)
	}
}

// A publisher held for another node goes once that node's word no longer
// names its topic, and not before: a change that still names it wakes it
// only to wait on.
func TestOthersBehindLetTheirTopicGo(t *testing.T) {
	s, _ := lagServer(time.Second) // waits up to 10 s
	s.SetOthersBehind(OthersBehind{Topics: []string{"hot"}})
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), "hot") }()
	eventuallyWaiting := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.othersGate.waiting.Load() != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the publisher does not wait for the other node")
			}
			time.Sleep(time.Millisecond)
		}
	}
	eventuallyWaiting()
	s.SetOthersBehind(OthersBehind{Topics: []string{"hot", "more"}})
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v while its topic was still held", err)
	case <-time.After(20 * time.Millisecond):
	}
	eventuallyWaiting()
	s.SetOthersBehind(OthersBehind{Topics: []string{"more"}})
	if err := <-done; err != nil {
		t.Fatalf("Wait once its topic was let go: %v", err)
	}
}

// A bound shorter than the loops' passes holds publishers at the longest
// recent pass instead: a frame waits that long for its connection's turn
// whatever they do.
func TestBoundRisesToTheLoopsLongestPass(t *testing.T) {
	s, l := lagServer(10 * time.Millisecond)
	now := monoNow()
	l.lag.notePass(now, int64(80*time.Millisecond))
	l.lag.pending.Store(now - int64(50*time.Millisecond))
	if s.Behind() {
		t.Fatal("behind at 50 ms with passes of 80 ms")
	}
	if err := s.Wait(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PublishWaits != 0 {
		t.Fatalf("%d publishes waited under the loops' pass", st.PublishWaits)
	}
	l.lag.pending.Store(now - int64(200*time.Millisecond))
	if !s.Behind() {
		t.Fatal("not behind at 200 ms with passes of 80 ms")
	}
}

// The floor is the longest pass of this window or the one before, so it
// comes down within two windows of the passes getting shorter.
func TestPassFloorForgetsOldPasses(t *testing.T) {
	var g loopLag
	long, short := int64(80*time.Millisecond), int64(time.Millisecond)
	t0 := monoNow()
	g.notePass(t0, long)
	at := t0 + passWindow/2
	g.notePass(at, short)
	if got := g.passFloor(at); got != long {
		t.Fatalf("floor %v within the window, want %v", time.Duration(got), time.Duration(long))
	}
	at = t0 + passWindow + passWindow/2
	g.notePass(at, short)
	if got := g.passFloor(at); got != long {
		t.Fatalf("floor %v in the next window, want the last one's %v", time.Duration(got), time.Duration(long))
	}
	at = t0 + 3*passWindow
	g.notePass(at, short)
	if got := g.passFloor(at); got != short {
		t.Fatalf("floor %v two windows on, want %v", time.Duration(got), time.Duration(short))
	}
}

// However small the bound, a publish waits a second (minWait) before it
// is refused, so that a moment's stall does not turn into refusals.
func TestSmallBoundWaitsMinWaitBeforeRefusing(t *testing.T) {
	s, l := lagServer(time.Millisecond)
	l.lag.pass.Store(monoNow() - int64(time.Hour))
	start := time.Now()
	if err := s.Wait(context.Background(), "t"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Wait = %v, want ErrOverloaded", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("refused after %v, want a second at least", waited)
	}
}

// A loop that stops making passes (its connections went quiet, or left)
// holds the bound up no longer than its last pass's windows, though no
// later pass comes to bring it down: a window on, its pass still counts;
// two windows on, the bound is MaxDeliveryLag again.
func TestPassFloorLapsesWhenTheLoopGoesQuiet(t *testing.T) {
	bound, pass := int64(10*time.Millisecond), int64(80*time.Millisecond)
	for _, tc := range []struct {
		name  string
		later int64
		want  int64
	}{
		{"a window and a half on", passWindow + passWindow/2, pass},
		{"two windows on", 2 * passWindow, bound},
		{"an hour on", int64(time.Hour), bound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, l := lagServer(time.Duration(bound))
			t0 := monoNow()
			l.lag.notePass(t0, pass)
			if got := s.holdBound(t0 + tc.later); got != tc.want {
				t.Fatalf("the bound is %v %v after the loop's last pass of %v, want %v",
					time.Duration(got), time.Duration(tc.later), time.Duration(pass), time.Duration(tc.want))
			}
		})
	}
}

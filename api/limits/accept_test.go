package limits

import (
	"io"
	"net"
	"testing"
	"time"
)

// Hold spends only MaxOpen and Meter only the Rate, so that a connection
// held from accept and metered at its upgrade counts once in each.
func TestHoldAndMeter(t *testing.T) {
	l, clock := newLimiter(t, ConnConfig{MaxOpen: 1, Rate: 1, Burst: 2})
	release, ok := l.Hold(ipA)
	if !ok {
		t.Fatal("Hold refused")
	}
	if _, ok := l.Hold(ipA); ok {
		t.Fatal("a second Hold past MaxOpen 1 admitted")
	}
	if !l.Meter(ipA) || !l.Meter(ipA) || l.Meter(ipA) {
		t.Fatal("Meter did not spend exactly the burst of 2")
	}
	release()
	release() // a second call does nothing
	if n := l.Tracked(); n != 1 {
		t.Fatalf("%d addresses tracked: the emptied bucket must be remembered", n)
	}
	if !l.Meter(ipB) {
		t.Fatal("Meter refused a new address")
	}
	clock.Advance(2 * time.Second) // both buckets are full again
	if _, ok := l.Hold(ipC); !ok {
		t.Fatal("Hold refused a new address")
	}
	if n := l.Tracked(); n != 1 {
		t.Fatalf("%d addresses tracked, want only the one holding a connection", n)
	}
}

func TestHoldWithoutMaxOpenCountsNothing(t *testing.T) {
	l, _ := newLimiter(t, ConnConfig{Rate: 1})
	for range 3 {
		if _, ok := l.Hold(ipA); !ok {
			t.Fatal("Hold refused without a MaxOpen")
		}
	}
	if l.Tracked() != 0 {
		t.Fatal("Hold without a MaxOpen tracked an address")
	}
}

// listen serves a Listener over cfg on 127.0.0.1:0.
func listen(t *testing.T, cfg ListenerConfig) (net.Listener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return NewListener(inner, cfg), inner.Addr().String()
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// acceptAll accepts on l until it closes and hands each Conn over.
func acceptAll(t *testing.T, l net.Listener) <-chan *Conn {
	out := make(chan *Conn, 8)
	done := make(chan struct{})
	go func() { // stops when the cleanup closes l, and is waited for
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			out <- c.(*Conn)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return out
}

func next(t *testing.T, accepted <-chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("nothing accepted")
		return nil
	}
}

// A connection over its address's limit is refused at accept: it is
// written the refusal and closed, and Accept goes on to the next one.
// Each slot comes back exactly once, through Close or through Detach.
func TestListener(t *testing.T) {
	conns, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	files, err := NewOpenFiles(1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, addr := listen(t, ListenerConfig{Conns: conns, Files: files, Refusal: []byte("no")})
	accepted := acceptAll(t, l)
	dialTCP(t, addr)
	first := next(t, accepted)
	refused := dialTCP(t, addr)
	refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(refused); string(got) != "no" || err != nil {
		t.Fatalf("refused connection read %q, %v; want the refusal, then EOF", got, err)
	}
	refused.Close()
	waitDrained(t, l) // the refused connection's descriptor counts until then
	first.Close()
	dialTCP(t, addr)
	third := next(t, accepted)
	if !third.HeldPerAddress() || files.Open() != 1 {
		t.Fatalf("held %v, %d descriptors counted; want the third counted alone", third.HeldPerAddress(), files.Open())
	}
	bare, slot := third.Detach()
	if _, ok := bare.(*net.TCPConn); !ok {
		t.Fatalf("Detach gave a %T, want the *net.TCPConn", bare)
	}
	third.Close() // the slot went with Detach
	if files.Open() != 1 || conns.Tracked() != 1 {
		t.Fatal("Close after Detach released the slot")
	}
	slot.Release()
	slot.Release()
	if files.Open() != 0 || conns.Tracked() != 0 {
		t.Fatalf("%d descriptors and %d addresses counted after release", files.Open(), conns.Tracked())
	}
}

// waitDrained waits until l drains no refused connection.
func waitDrained(t *testing.T, l net.Listener) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.(*Listener).drains.draining() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("a refused connection is still drained after its peer closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// A trusted proxy's connections are counted as descriptors only: the
// clients behind it are limited at the upgrade.
func TestListenerLetsTrustedProxiesThrough(t *testing.T) {
	conns, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	trusted, err := NewClientIP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, addr := listen(t, ListenerConfig{Conns: conns, ClientIP: trusted})
	accepted := acceptAll(t, l)
	for range 3 {
		dialTCP(t, addr)
		if c := next(t, accepted); c.HeldPerAddress() {
			t.Fatal("a trusted proxy's connection was counted per address")
		}
	}
}

func TestListenerCountingNothingIsTheListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	off, _ := newLimiter(t, ConnConfig{})
	if l := NewListener(inner, ListenerConfig{Conns: off}); l != inner {
		t.Fatal("a Listener that counts nothing was wrapped")
	}
}

func TestNewOpenFilesRefusesNonsense(t *testing.T) {
	for _, c := range [][2]int{{0, 0}, {-1, 0}, {100, -1}} {
		if _, err := NewOpenFiles(c[0], c[1]); err == nil {
			t.Errorf("NewOpenFiles(%d, %d) accepted", c[0], c[1])
		}
	}
	f, err := NewOpenFiles(10000, 10000-101)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Room() {
		t.Fatal("101 free of 10000 with a reserve of 100: no room")
	}
	f.opened()
	if f.Room() {
		t.Fatal("100 free of 10000: room, past the 1% reserve")
	}
}

// The connections an address opens are paced at accept (Accepts): past
// its burst one is closed at once, without a word, whatever it would have
// asked; a trusted proxy's are not paced.
func TestListenerPacesTheConnectionsAnAddressOpens(t *testing.T) {
	accepts, _ := newLimiter(t, ConnConfig{Rate: 1, Burst: 2})
	l, addr := listen(t, ListenerConfig{Accepts: accepts, Refusal: []byte("no")})
	accepted := acceptAll(t, l)
	for range 2 {
		dialTCP(t, addr)
		next(t, accepted)
	}
	refused := dialTCP(t, addr)
	refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(refused); len(got) != 0 || err != nil {
		t.Fatalf("the connection past the burst read %q, %v; want nothing, then its end", got, err)
	}

	trusted, err := NewClientIP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	accepts, _ = newLimiter(t, ConnConfig{Rate: 1, Burst: 2})
	l, addr = listen(t, ListenerConfig{Accepts: accepts, ClientIP: trusted, Refusal: []byte("no")})
	accepted = acceptAll(t, l)
	for range 4 {
		dialTCP(t, addr)
		next(t, accepted)
	}
}

package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
)

// The upgrade's hijack hands transport the bare *net.TCPConn, which alone
// takes the epoll path, and takes the accept-time slot with it.
func TestHandoverGivesTheBareConnAndItsSlot(t *testing.T) {
	files, err := limits.NewOpenFiles(1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := &http.Server{
		ConnContext: limits.WithConn,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := newHandover(w)
			c, _, err := h.Hijack()
			if err != nil {
				got <- err.Error()
				return
			}
			c.Close()
			got <- fmt.Sprintf("%T %v %d", c, h.accept != nil, files.Open())
			h.accept.Release()
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limits.NewListener(inner, limits.ListenerConfig{Files: files})) }()
	defer func() { srv.Close(); <-served }()

	conn, err := net.DialTimeout("tcp", inner.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != "*net.TCPConn true 1" {
			t.Fatalf("hijack gave %q, want the bare conn and its slot, still counted after the close", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
	for deadline := time.Now().Add(5 * time.Second); files.Open() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors counted after the release", files.Open())
		}
	}
}

// A connection counted nowhere (no Listener, no per-address limits) keeps
// nothing of api's: its receiver is the session itself. A counted one
// keeps one object of 24 bytes, its session and the slot that gives back
// both its accept-time and its upgrade's counts; so does one with its
// address's budgets and no slot here (over TLS: its *tls.Conn keeps it).
func TestReleasingKeepsOneSmallObjectOnlyWhenCounted(t *testing.T) {
	var session *broker.Session // only held and compared here, never called
	if got := releasing(session, nil, nil, new(limits.Slot)); got != transport.Receiver(session) {
		t.Fatalf("a connection counted nowhere got a %T", got)
	}
	perAddress, err := limits.NewConnLimiter(limits.ConnConfig{QueueBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	slot, budgets, ok := perAddress.AcquirePaced(netip.MustParseAddr("127.0.0.1"))
	if !ok || budgets == nil {
		t.Fatalf("AcquirePaced gave %v, %v; want the address's budgets", budgets, ok)
	}
	defer slot.Release()
	if got := releasing(session, budgets, nil, nil); got == transport.Receiver(session) {
		t.Fatal("a connection with its address's budgets got the session itself, which names none")
	}
	if size := unsafe.Sizeof(releasingReceiver{}); size > 24 {
		t.Fatalf("releasingReceiver is %d bytes, want at most 24", size)
	}
	files, err := limits.NewOpenFiles(1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := limits.NewListener(listenLoopback(t), limits.ListenerConfig{Files: files})
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, ok := <-accepted
	if !ok {
		t.Fatal("nothing accepted")
	}
	bare, accept := c.(*limits.Conn).Detach()
	defer bare.Close()
	r := releasing(session, nil, accept, nil)
	if _, ok := r.(*releasingReceiver); !ok || files.Open() != 1 {
		t.Fatalf("a counted connection got a %T, %d descriptors counted", r, files.Open())
	}
	r.(*releasingReceiver).slot.Release() // what Disconnected does once the session has ended
	if files.Open() != 0 {
		t.Fatalf("%d descriptors counted after the connection ended", files.Open())
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

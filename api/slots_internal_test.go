package api

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/api/limits"
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

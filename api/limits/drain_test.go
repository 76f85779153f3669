package limits

import (
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// An HTTP client refused at accept reads its refusal as the answer to
// its request, every time: it is not written before the request arrives
// (an unsolicited answer, to the client), nor reset by a close with the
// request unread.
func TestRefusalIsReadAsTheAnswer(t *testing.T) {
	conns, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	refusal := "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	l, addr := listen(t, ListenerConfig{Conns: conns, Refusal: []byte(refusal)})
	accepted := acceptAll(t, l)
	dialTCP(t, addr)
	next(t, accepted)
	// Nothing comes before the request, and all of the refusal after it.
	for range 5 {
		c := dialTCP(t, addr)
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("before the request: %d bytes, %v; want nothing", n, err)
		}
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := io.ReadAll(c); string(got) != refusal || err != nil {
			t.Fatalf("read %q, %v; want the refusal, then EOF", got, err)
		}
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	for i := range 200 {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request %d past the limit: %v, want its 429", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d past the limit: %d", i, resp.StatusCode)
		}
	}
}

// A flood of refused connections that send a request and never close
// drains at most maxDrains of them at once; the rest are closed at once,
// and every one still gets its refusal. Close ends the drains under way.
func TestRefusalDrainsAreBounded(t *testing.T) {
	conns, _ := newLimiter(t, ConnConfig{MaxOpen: 1})
	files, err := NewOpenFiles(100000, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, addr := listen(t, ListenerConfig{Conns: conns, Files: files, Refusal: []byte("no")})
	accepted := acceptAll(t, l)
	dialTCP(t, addr)
	next(t, accepted)
	goroutines := runtime.NumGoroutine()
	most := 0
	for range 3 * maxDrains {
		c := dialTCP(t, addr) // held open by the test until its end
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "no" {
			t.Fatalf("refused connection read %q, %v", buf, err)
		}
		d := l.(*Listener).drains.draining()
		most = max(most, d)
		if d > maxDrains {
			t.Fatalf("%d refused connections draining, past the bound of %d", d, maxDrains)
		}
		if g := runtime.NumGoroutine(); g > goroutines+maxDrains+5 {
			t.Fatalf("%d goroutines, %d before the flood: the drains are not bounded", g, goroutines)
		}
	}
	if most == 0 {
		t.Fatal("no refused connection was drained")
	}
	l.Close()
	if d := l.(*Listener).drains.draining(); d != 0 {
		t.Fatalf("after Close: %d draining", d)
	}
	// The last refusal closed at once may still be giving its slot back.
	for deadline := time.Now().Add(5 * time.Second); files.Open() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors counted after Close, want the accepted one", files.Open())
		}
	}
}

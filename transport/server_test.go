package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func TestEchoWithGobwasClient(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		ts.acc.welcome = ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"welcome"}`)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, br, _, err := ws.Dial(ctx, ts.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var nc io.ReadWriter = conn
		if br != nil { // frames that came with the handshake response
			nc = struct {
				io.Reader
				io.Writer
			}{io.MultiReader(br, conn), conn}
		}
		got, err := wsutil.ReadServerText(nc)
		if err != nil || string(got) != `{"type":"welcome"}` {
			t.Fatalf("welcome = %q, %v", got, err)
		}
		for _, msg := range []string{"hello", strings.Repeat("é", 100), ""} {
			if err := wsutil.WriteClientText(nc, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			got, err := wsutil.ReadServerText(nc)
			if err != nil || string(got) != msg {
				t.Fatalf("echo = %q, %v; want %q", got, err, msg)
			}
		}
		if n := ts.srv.Connections(); n != 1 {
			t.Fatalf("Connections() = %d, want 1", n)
		}
	})
}

func TestFragmentedTextIsReassembled(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxMessageBytes: testMaxMessage})
		c := dialRaw(t, ts.addr, nil)
		whole := []byte("héllo wörld")
		// Split inside the two-byte é: UTF-8 is judged on the whole message.
		var in []byte
		in = append(in, frame(ws.OpText, false, whole[:2])...)
		in = append(in, frame(ws.OpPing, true, []byte("mid"))...) // control frames may interleave
		in = append(in, frame(ws.OpContinuation, false, whole[2:8])...)
		in = append(in, frame(ws.OpContinuation, true, whole[8:])...)
		// Delivered a byte at a time, to exercise the incremental parser.
		for i := range in {
			c.write(in[i : i+1])
		}
		f, err := c.next()
		if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "mid" {
			t.Fatalf("first frame = %+v %q, %v; want the pong", f.Header, f.Payload, err)
		}
		if got := c.text(); got != string(whole) {
			t.Fatalf("echo = %q, want %q", got, whole)
		}
	})
}

func TestPingIsAnsweredWithItsPayload(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		c := dialRaw(t, ts.addr, nil)
		payload := bytes.Repeat([]byte("z"), 125)
		c.write(frame(ws.OpPing, true, payload))
		f, err := c.next()
		if err != nil || f.Header.OpCode != ws.OpPong || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("got %+v %q, %v; want a pong with the ping's payload", f.Header, f.Payload, err)
		}
	})
}

func TestBytesPipelinedAfterUpgradeAreRead(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		c := dialRaw(t, ts.addr, append(frame(ws.OpText, true, []byte("first")), frame(ws.OpText, true, []byte("second"))...))
		if got := c.text(); got != "first" {
			t.Fatalf("got %q, want first", got)
		}
		if got := c.text(); got != "second" {
			t.Fatalf("got %q, want second", got)
		}
	})
}

func TestBadHandshakeIs400(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		resp, err := http.Get("http://" + ts.addr + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

func TestSilentClientIsClosedWith4002(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{Heartbeat: 40 * time.Millisecond})
		c := dialRaw(t, ts.addr, nil)
		if code := c.closeCode(); code != 4002 {
			t.Fatalf("close code %d, want 4002", code)
		}
	})
}

func TestPongsKeepAConnectionAlive(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{Heartbeat: 250 * time.Millisecond})
		c := dialRaw(t, ts.addr, nil)
		// Pings arrive, and answering them keeps the connection open past
		// many heartbeats.
		for pings := 0; pings < 4; {
			f, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.OpCode == ws.OpClose {
				t.Fatalf("closed while answering pings: %v", f.Payload)
			}
			if f.Header.OpCode == ws.OpPing {
				pings++
				c.write(frame(ws.OpPong, true, f.Payload))
			}
		}
	})
}

func TestBrokerCloseSendsItsCode(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		c := dialRaw(t, ts.addr, nil)
		eventually(t, "session opened", func() bool { return len(ts.acc.all()) == 1 })
		s := ts.acc.all()[0]
		if !s.c.Send(ws.MustCompileFrame(ws.NewTextFrame([]byte("before")))) {
			t.Fatal("Send on an open connection returned false")
		}
		s.c.Close(4001, "token expired")
		s.c.Close(4003, "ignored: already closing")
		if s.c.Send(ws.MustCompileFrame(ws.NewTextFrame([]byte("after")))) {
			t.Fatal("Send after Close returned true")
		}
		if got := c.text(); got != "before" {
			t.Fatalf("got %q, want the frame queued before Close", got)
		}
		if code := c.closeCode(); code != 4001 {
			t.Fatalf("close code %d, want 4001", code)
		}
		eventually(t, "Disconnected", func() bool { return s.disconnected.Load() == 1 })
	})
}

func TestShutdownSends1001(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		clients := []*rawClient{dialRaw(t, ts.addr, nil), dialRaw(t, ts.addr, nil)}
		eventually(t, "sessions opened", func() bool { return ts.srv.Connections() == 2 })
		type result struct {
			code ws.StatusCode
			err  error
		}
		results := make(chan result, len(clients))
		for _, c := range clients {
			go func() {
				code, err := c.readCloseCode()
				results <- result{code, err}
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		for range clients {
			if r := <-results; r.err != nil || r.code != 1001 {
				t.Fatalf("close code %d (%v), want 1001", r.code, r.err)
			}
		}
		if n := ts.srv.Connections(); n != 0 {
			t.Fatalf("Connections() = %d after Shutdown", n)
		}
		for _, s := range ts.acc.all() {
			if n := s.disconnected.Load(); n != 1 {
				t.Fatalf("Disconnected called %d times", n)
			}
		}
		if err := ts.srv.Shutdown(ctx); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
}

func TestShutdownContextEndDropsUnfinishedCloses(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{CloseTimeout: time.Minute})
		c := dialRaw(t, ts.addr, nil) // never closes its side
		eventually(t, "session opened", func() bool { return ts.srv.Connections() == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCloseUnanswered) {
			t.Fatalf("Shutdown = %v, want ErrCloseUnanswered and the context's error", err)
		}
		if n := ts.srv.Connections(); n != 0 {
			t.Fatalf("Connections() = %d after Shutdown", n)
		}
		_ = c
	})
}

func TestAbruptDisconnectCallsDisconnectedOnce(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		c := dialRaw(t, ts.addr, frame(ws.OpText, true, []byte("x")))
		_ = c.text()
		c.nc.Close()
		eventually(t, "Disconnected", func() bool { return ts.srv.Connections() == 0 })
		s := ts.acc.all()[0]
		time.Sleep(50 * time.Millisecond) // room for a wrong second call
		if n := s.disconnected.Load(); n != 1 {
			t.Fatalf("Disconnected called %d times", n)
		}
		if s.c.Send([]byte{0x81, 0}) {
			t.Fatal("Send on a closed connection returned true")
		}
	})
}

func TestRandomBytesDoNotStopTheServer(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxMessageBytes: testMaxMessage})
		rng := rand.New(rand.NewSource(1))
		for i := 0; i < 50; i++ {
			c := dialRaw(t, ts.addr, nil)
			junk := make([]byte, 1+rng.Intn(4096))
			rng.Read(junk)
			_, _ = c.nc.Write(junk) // the server may already have closed
		}
		c := dialRaw(t, ts.addr, nil)
		c.write(frame(ws.OpText, true, []byte("still here")))
		if got := c.text(); got != "still here" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestIdleConnectionIsSmall(t *testing.T) {
	if size := unsafe.Sizeof(conn{}); size >= 200 {
		t.Fatalf("conn is %d bytes, want under 200", size)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{Heartbeat: -1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative heartbeat: %v", err)
	}
}

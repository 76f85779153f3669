package transport

import (
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/herald-broker/herald/internal/sockettest"
)

// A socket taken over is given Config.SendBufferBytes and
// Config.ReceiveBufferBytes, unless its request says that was done as it
// was accepted (WithSocketBuffersSet, which api's listener makes true):
// then it keeps what it was given then, and takeover makes no second
// setsockopt. A socket handed in from anywhere else is still set.
func TestTakeoverSetsTheSocketBuffersUnlessSetAtAccept(t *testing.T) {
	const configured, atAccept = 96 << 10, 48 << 10
	forEachMode(t, func(t *testing.T, portable bool) {
		for _, setAtAccept := range []bool{false, true} {
			var setup func(*httptest.Server)
			want := sockettest.ReportedSendBuffer(t, configured)
			wantReceive := sockettest.ReportedReceiveBuffer(t, configured)
			if setAtAccept {
				setup = func(hs *httptest.Server) {
					hs.Listener = sizingListener{Listener: hs.Listener, size: atAccept}
					hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
						return WithSocketBuffersSet(ctx)
					}
				}
				want = sockettest.ReportedSendBuffer(t, atAccept)
				wantReceive = sockettest.ReportedReceiveBuffer(t, atAccept)
			}
			acc := &echoAcceptor{}
			ts := startServerOn(t, portable, Config{SendBufferBytes: configured, ReceiveBufferBytes: configured}, acc, acc, setup)
			c := dialRaw(t, ts.addr, nil)
			eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == 1 })
			fd := sockettest.Accepted(t, c.nc.RemoteAddr(), c.nc.LocalAddr())
			if got := sockettest.SendBuffer(t, fd); got != want {
				t.Errorf("set at accept: %v: the taken over socket has SO_SNDBUF %d, want %d", setAtAccept, got, want)
			}
			if got := sockettest.ReceiveBuffer(t, fd); got != wantReceive {
				t.Errorf("set at accept: %v: the taken over socket has SO_RCVBUF %d, want %d", setAtAccept, got, wantReceive)
			}
		}
	})
}

// sizingListener sets each socket's send and receive buffers as it
// accepts it, as api's listener does, and hands on the *net.TCPConn itself.
type sizingListener struct {
	net.Listener
	size int
}

func (l sizingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(l.size); err != nil { // SO_SNDBUF
		c.Close()
		return nil, err
	}
	if err := c.(*net.TCPConn).SetReadBuffer(l.size); err != nil { // SO_RCVBUF
		c.Close()
		return nil, err
	}
	return c, nil
}

// A buffer size past 32 bits is set as the kernel's cap, as any size
// past net.core.wmem_max or rmem_max is, not as its low 32 bits: 4 GiB
// is 0 there, which the kernel takes for its smallest buffer.
func TestSocketBuffersPast32BitsAreTheKernelsCap(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skip("an int holds no more than 32 bits")
	}
	shift := 32
	huge := 1 << shift // 4 GiB
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := setSocketBuffers(c.(*net.TCPConn), huge, huge); err != nil {
		t.Fatal(err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var send, receive int
	if err := raw.Control(func(fd uintptr) {
		send, receive = sockettest.SendBuffer(t, int(fd)), sockettest.ReceiveBuffer(t, int(fd))
	}); err != nil {
		t.Fatal(err)
	}
	if want := sockettest.ReportedSendBuffer(t, huge); send != want {
		t.Errorf("SO_SNDBUF %d, want %d", send, want)
	}
	if want := sockettest.ReportedReceiveBuffer(t, huge); receive != want {
		t.Errorf("SO_RCVBUF %d, want %d", receive, want)
	}
}

// A listener given SetListenerBuffers hands out sockets that have
// Config.ReceiveBufferBytes as their SO_RCVBUF from their handshake on,
// before anything is set on them; at 0 it is left as it is, and its
// sockets have what those of a listener never touched have (autotuning).
func TestListenerBuffersAreTheAcceptedSockets(t *testing.T) {
	const configured = 48 << 10
	untouched := acceptedReceiveBuffer(t, func(net.Listener) {})
	for _, tc := range []struct {
		receive, want int
	}{
		{configured, sockettest.ReportedReceiveBuffer(t, configured)},
		{0, untouched},
	} {
		srv, err := New(Config{ReceiveBufferBytes: tc.receive, SendBufferBytes: configured, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		got := acceptedReceiveBuffer(t, func(l net.Listener) {
			if err := srv.SetListenerBuffers(l); err != nil {
				t.Fatal(err)
			}
		})
		if got != tc.want {
			t.Errorf("ReceiveBufferBytes %d: the accepted socket has SO_RCVBUF %d, want %d", tc.receive, got, tc.want)
		}
	}
	if untouched == sockettest.ReportedReceiveBuffer(t, configured) {
		t.Fatalf("a socket left alone has SO_RCVBUF %d already: the test tells nothing", untouched)
	}
}

// acceptedReceiveBuffer is the SO_RCVBUF of a socket accepted on a
// loopback listener that set was given first.
func acceptedReceiveBuffer(t *testing.T, set func(net.Listener)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	set(l)
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return sockettest.ReceiveBuffer(t, sockettest.Accepted(t, c.RemoteAddr(), c.LocalAddr()))
}

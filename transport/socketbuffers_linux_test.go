package transport

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"

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

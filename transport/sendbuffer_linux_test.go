package transport

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/herald-broker/herald/internal/sockettest"
)

// A socket taken over is given Config.SendBufferBytes, unless its request
// says that was done as it was accepted (WithSendBufferSet, which api's
// listener makes true): then it keeps what it was given then, and
// takeover makes no second setsockopt. A socket handed in from anywhere
// else is still set.
func TestTakeoverSetsTheSendBufferUnlessSetAtAccept(t *testing.T) {
	const configured, atAccept = 96 << 10, 48 << 10
	forEachMode(t, func(t *testing.T, portable bool) {
		for _, setAtAccept := range []bool{false, true} {
			var setup func(*httptest.Server)
			want := sockettest.ReportedSendBuffer(t, configured)
			if setAtAccept {
				setup = func(hs *httptest.Server) {
					hs.Listener = sizingListener{Listener: hs.Listener, sendBuffer: atAccept}
					hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
						return WithSendBufferSet(ctx)
					}
				}
				want = sockettest.ReportedSendBuffer(t, atAccept)
			}
			acc := &echoAcceptor{}
			ts := startServerOn(t, portable, Config{SendBufferBytes: configured}, acc, acc, setup)
			c := dialRaw(t, ts.addr, nil)
			eventually(t, "the connection opened", func() bool { return len(ts.acc.all()) == 1 })
			fd := sockettest.Accepted(t, c.nc.RemoteAddr(), c.nc.LocalAddr())
			if got := sockettest.SendBuffer(t, fd); got != want {
				t.Errorf("set at accept: %v: the taken over socket has SO_SNDBUF %d, want %d", setAtAccept, got, want)
			}
		}
	})
}

// sizingListener sets each socket's send buffer as it accepts it, as
// api's listener does, and hands on the *net.TCPConn itself.
type sizingListener struct {
	net.Listener
	sendBuffer int
}

func (l sizingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(l.sendBuffer); err != nil { // SO_SNDBUF
		c.Close()
		return nil, err
	}
	return c, nil
}

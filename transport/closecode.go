package transport

import "github.com/gobwas/ws"

// CodeReceiver is a Receiver that wants to know how its connection ended:
// transport then calls DisconnectedWith in place of Disconnected, once,
// with the code of the close frame that started the close, whichever
// side sent it (1005 for a close frame without a code, 1006 when the
// connection just dropped without one). Webhooks report it
// (docs/protocol.md section 11, client_disconnected).
type CodeReceiver interface {
	Receiver
	DisconnectedWith(code int)
}

// closedWith records the code c's close started with and counts it.
func (c *conn) closedWith(byClient bool, code ws.StatusCode) {
	c.code.CompareAndSwap(0, int32(code))
	c.lim.stats.closed(byClient, code)
}

// closeCode is the code c ended with; abrupt: no close frame went
// either way.
func (c *conn) closeCode(abrupt bool) int {
	if code := c.code.Load(); code != 0 && !abrupt {
		return int(code)
	}
	return int(ws.StatusAbnormalClosure)
}

// disconnected tells r its connection is gone, with code when it wants it.
func disconnected(r Receiver, code int) {
	if cr, ok := r.(CodeReceiver); ok {
		cr.DisconnectedWith(code)
		return
	}
	r.Disconnected()
}

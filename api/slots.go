package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
)

// tooManyConnections is why a client past its address's limits is
// refused, at accept or at the upgrade.
const tooManyConnections = "too many connections from this address"

// acceptRefusal is written to a connection refused at accept, before its
// request is read: the 429 /ws answers past the per-address limits, and
// Connection: close, since the socket closes right after.
func acceptRefusal() []byte {
	body, err := json.Marshal(errorBody{Error: errorDetail{Code: broker.CodeRateLimited, Message: tooManyConnections}})
	if err != nil { // our own type: unreachable
		panic(err)
	}
	resp := &http.Response{
		StatusCode: http.StatusTooManyRequests, ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Cache-Control": {"no-store"},
			"Retry-After":   {"1"},
		},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
	}
	var b bytes.Buffer
	if err := resp.Write(&b); err != nil { // into memory: unreachable
		panic(err)
	}
	return b.Bytes()
}

// acquire takes what an upgrade from ip spends of the per-address limits.
// A connection the Listener counted at accept holds its place under
// MaxOpen already and only spends the Rate; one from a trusted proxy
// (or served without the Listener) is counted here, for the client
// behind it. Without limits every request gets a slot that costs nothing.
func (s *Server) acquire(r *http.Request, ip netip.Addr) (release func(), ok bool) {
	switch {
	case s.cfg.Conns == nil:
		return func() {}, true
	case limits.ConnFrom(r.Context()).HeldPerAddress():
		return func() {}, s.cfg.Conns.Meter(ip)
	default:
		return s.cfg.Conns.Acquire(ip)
	}
}

// handover is the ResponseWriter an upgrade hijacks. It hands transport
// the bare connection, so that a TCP socket can move onto an event loop
// (a wrapped one would take the portable path), and takes over the
// connection's accept-time slot, to be released when the WebSocket ends.
// Under TLS the hijacked *tls.Conn keeps its slot: closing it releases.
type handover struct {
	http.ResponseWriter
	slot *detachedSlot
}

// detachedSlot is the accept-time slot Hijack took over. It is apart from
// handover so that what the WebSocket keeps for its whole life (the
// release function) holds no reference to the HTTP response, whose
// request, context and buffers would otherwise stay with every idle
// connection (about 12 KB each).
type detachedSlot struct {
	release func() // nil until Hijack took one
}

func newHandover(w http.ResponseWriter) *handover {
	return &handover{ResponseWriter: w, slot: &detachedSlot{}}
}

func (h *handover) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, rw, err
	}
	if counted, ok := c.(*limits.Conn); ok {
		c, h.slot.release = counted.Detach()
	}
	return c, rw, nil
}

// Unwrap lets http.ResponseController reach what handover does not
// implement itself.
func (h *handover) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// releaseAll releases the upgrade's own slot and, when Hijack took one,
// the connection's accept-time slot. It keeps only the slots, never h.
func (h *handover) releaseAll(upgrade func()) func() {
	slot := h.slot
	return func() {
		upgrade()
		if slot.release != nil {
			slot.release()
		}
	}
}

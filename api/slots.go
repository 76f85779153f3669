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
	"github.com/herald-broker/herald/transport"
)

// tooManyConnections is why a client past its address's limits is
// refused, at accept or at the upgrade.
const tooManyConnections = "too many connections from this address"

// acceptRefusal is written to a connection refused at accept, before its
// request is read: the 429 /ws answers past the per-address limits, and
// Connection: close, since the socket closes right after. The request's
// Origin is not known yet, so it lets every page read it, as the
// refusals of a plain GET of /ws do (refusalsReadable): herald.js asks
// /ws why a WebSocket was refused, and that GET is refused here too when
// the address holds its limit, which a page of another origin could not
// read otherwise and its client reconnected without a word.
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
			// Only the refusal: nothing a page could not learn by trying.
			"Access-Control-Allow-Origin": {"*"},
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

// acquire takes what an upgrade from ip spends of the per-address limits,
// and returns the command budget of ip's address that its connection
// shares (nil: none). A connection the Listener counted at accept holds
// its place under MaxOpen already, and with it its address's budget, and
// only spends the Rate; one from a trusted proxy (or served without the
// Listener) is counted here, for the client behind it, whose budget it
// gets, in the slot returned. A nil slot holds nothing.
func (s *Server) acquire(r *http.Request, ip netip.Addr) (slot *limits.Slot, pacer broker.AddressPacer, ok bool) {
	switch accepted := limits.ConnFrom(r.Context()); {
	case s.cfg.Conns == nil:
		return nil, nil, true
	case accepted.HeldPerAddress():
		return nil, accepted.Pacer(), s.cfg.Conns.Meter(ip)
	default:
		return s.cfg.Conns.AcquirePaced(ip)
	}
}

// handover is the ResponseWriter an upgrade hijacks. It hands transport
// the bare connection, so that a TCP socket can move onto an event loop
// (a wrapped one would take the portable path), and takes over the
// connection's accept-time slot, to be released when the connection
// ends. Under TLS the hijacked *tls.Conn keeps its slot: closing it
// releases.
type handover struct {
	http.ResponseWriter
	accept *limits.Slot // the slot Hijack took over; nil until then, or when none
}

func newHandover(w http.ResponseWriter) *handover {
	return &handover{ResponseWriter: w}
}

func (h *handover) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, rw, err
	}
	if counted, ok := c.(*limits.Conn); ok {
		c, h.accept = counted.Detach()
	}
	return c, rw, nil
}

// Unwrap lets http.ResponseController reach what handover does not
// implement itself.
func (h *handover) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// releasingReceiver is all that api keeps of an open connection, one
// object of 24 bytes: the connection's session, and one Slot that gives
// back what the connection was counted for, at accept (the slot its
// hijack took over) and at its upgrade. It holds no reference to the HTTP
// request or response, whose context and buffers would otherwise stay
// with every idle connection (about 12 KB each). Transport calls
// Disconnected (or DisconnectedWith) exactly once, after Open. The
// session is held as itself: as a transport.Receiver it would take 8
// bytes more, and the object the next size class.
type releasingReceiver struct {
	session *broker.Session
	slot    limits.Slot
}

// releasing is s, made to give back the connection's slots, the
// accept-time one and the upgrade's own, when it ends, and to name its
// address's budgets to transport; pacer is s's, from the connection's
// ClientInfo. A connection with none of them (no Listener, no
// per-address limits) is s itself: api keeps nothing of it. One over TLS
// has budgets and no slot here, its *tls.Conn keeping the accept-time
// one: as s itself its address's queue and read bounds would go unasked.
func releasing(s *broker.Session, pacer broker.AddressPacer, accept, own *limits.Slot) transport.Receiver {
	if pacer == nil && !accept.Holds() && !own.Holds() {
		return s
	}
	r := &releasingReceiver{session: s}
	r.slot.Take(accept)
	r.slot.Take(own)
	return r
}

var (
	_ transport.CodeReceiver  = (*releasingReceiver)(nil)
	_ transport.AddressQueuer = (*releasingReceiver)(nil)
	_ transport.AddressReader = (*releasingReceiver)(nil)
)

func (r *releasingReceiver) HandleText(payload []byte) { r.session.HandleText(payload) }

func (r *releasingReceiver) AllowPing() bool { return r.session.AllowPing() }

func (r *releasingReceiver) Disconnected() {
	r.session.Disconnected()
	r.slot.Release()
}

// DisconnectedWith passes the close code on to the session, which reports
// it to the webhooks, then gives back the connection's slots.
func (r *releasingReceiver) DisconnectedWith(code int) {
	r.session.DisconnectedWith(code)
	r.slot.Release()
}

// AddressQueue implements transport.AddressQueuer: the bound of the
// connection's address that api/limits keeps beside its command budget,
// reached through the session's pacer so that this object stays small;
// nil: none.
func (r *releasingReceiver) AddressQueue() *transport.AddressQueue {
	if q, ok := r.session.AddressPacer().(transport.AddressQueuer); ok {
		return q.AddressQueue()
	}
	return nil
}

// AddressReads implements transport.AddressReader, as AddressQueue.
func (r *releasingReceiver) AddressReads() *transport.AddressReads {
	if q, ok := r.session.AddressPacer().(transport.AddressReader); ok {
		return q.AddressReads()
	}
	return nil
}

package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport"
)

// handleSSE serves GET /sse (docs/protocol.md section 10): the request
// takes the checks of /ws (admit), its topics the broker's (OpenStream:
// count, syntax, permissions, then the engine), each refusal answered
// with its JSON error; then the connection is handed to transport, which
// writes the response head and the events on an event loop, as for a
// WebSocket. HTTP/2 never reaches here: the server offers HTTP/1.1 only
// (serverTLS), so every stream has a connection of its own to take over.
func (s *Server) handleSSE(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close") // the stream ends with the connection
	adm, ok := s.admit(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodHead {
		// The checks of the stream, none of its work: a HEAD sends no
		// event, and opens no subscription (presence, occupancy, webhooks).
		err := s.broker.CheckStream(r.Context(), adm.info, q["topic"])
		adm.slot.Release()
		if err != nil {
			retryAfter(w, err)
			s.fail(w, r, err)
			return
		}
		writeStreamHead(w)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("last_event_id")
	}
	stream, err := s.broker.OpenStream(r.Context(), adm.info, q["topic"], lastID)
	if err != nil {
		adm.slot.Release()
		retryAfter(w, err)
		s.fail(w, r, err)
		return
	}
	h := newHandover(w)
	head := streamHead(r.Header.Get("Origin"))
	if !s.ws.AttachStream(h, r, head, adm.info, streamAcceptor{stream: stream, h: h, own: adm.slot}) {
		stream.Abort()
		adm.slot.Release()
		h.accept.Release()
	}
}

// streamHeaders are the headers of a stream's 200, besides CORS.
var streamHeaders = [][2]string{
	{"Content-Type", "text/event-stream"},
	{"Cache-Control", "no-store"},
	{"Connection", "close"},
	// Proxies that buffer answers (nginx) pass this one through at once.
	{"X-Accel-Buffering", "no"},
}

// streamHead is the response head transport writes before the events:
// HTTP/1.1 200 with an identity body that ends when the connection
// closes. origin, when not empty, is echoed for CORS: a request that got
// this far passed the origin list.
func streamHead(origin string) []byte {
	b := make([]byte, 0, 192+len(origin))
	b = append(b, "HTTP/1.1 200 OK\r\n"...)
	for _, h := range streamHeaders {
		b = append(b, h[0]...)
		b = append(b, ": "...)
		b = append(b, h[1]...)
		b = append(b, "\r\n"...)
	}
	if origin != "" {
		b = append(b, "Access-Control-Allow-Origin: "...)
		b = append(b, origin...)
		b = append(b, "\r\nVary: Origin\r\n"...)
	}
	return append(b, "\r\n"...)
}

// writeStreamHead answers a HEAD request as the stream would begin.
func writeStreamHead(w http.ResponseWriter) {
	for _, h := range streamHeaders {
		w.Header().Set(h[0], h[1])
	}
	w.WriteHeader(http.StatusOK)
}

// streamCORS lets pages of allowed origins read /sse: every answer to
// one, the refusals too (so that a client can tell why), names the
// request's Origin. An origin that is not allowed is named by none: admit
// refuses it with 403, which that page may not read (section 10 echoes
// an origin only when it is allowed). OPTIONS is the preflight of a
// client that sends Authorization or Last-Event-ID itself (EventSource
// sends none that needs one).
func (s *Server) streamCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && s.originAllowed(origin)
		hdr := w.Header()
		if origin != "" {
			hdr.Add("Vary", "Origin")
		}
		if allowed {
			hdr.Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method != http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		if allowed {
			hdr.Set("Access-Control-Allow-Methods", "GET, HEAD")
			hdr.Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID")
			hdr.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// streamAcceptor starts a stream the broker opened on the connection
// transport made of it, and gives back its per-address slots when it
// ends (as releasingAcceptor does for a WebSocket).
type streamAcceptor struct {
	stream *broker.Stream
	h      *handover    // its Hijack has run when OpenStream is called
	own    *limits.Slot // the upgrade's own; nil: none
}

func (a streamAcceptor) OpenStream(c broker.Conn, info broker.ClientInfo) transport.Receiver {
	return releasing(a.stream.Start(c), info.Pacer, a.h.accept, a.own)
}

package api

import (
	"net/http"

	"github.com/herald-broker/herald/broker"
)

// Presence and server-side control for backends (docs/protocol.md
// sections 8 and 9).

// controlBodyBytes bounds a control request's body: a user, a session and
// a topic.
const controlBodyBytes = envelopeBytes

// handlePresence answers GET /api/presence?topic=...[&after=...]: the
// presence command's answer without type and id, one page of members.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("topic") { // an empty one is an invalid topic, as in history
		badRequest(w, "topic is required")
		return
	}
	topic := q.Get("topic")
	st, err := s.broker.Presence(r.Context(), topic, q.Get("after"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, broker.AppendPresenceJSON(nil, topic, st))
}

// controlTarget is whom a control reaches: the body of POST
// /api/disconnect, which reads nothing else, so that a topic sent to it
// is ignored whatever its type, as any field a request does not define.
// An empty user or session counts as not given.
type controlTarget struct {
	User    string `json:"user"`
	Session string `json:"session"`
}

// controlRequest is the body of POST /api/unsubscribe and /api/subscribe.
type controlRequest struct {
	controlTarget
	Topic topicField `json:"topic"`
}

// handleControl sends a backend's control of kind to every node and
// answers exactly {} once the engine took it.
func (s *Server) handleControl(kind broker.ControlKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req controlRequest
		var body any = &req
		if kind == broker.ControlDisconnect {
			body = &req.controlTarget
		}
		if !decodeBody(w, r, controlBodyBytes, body) {
			return
		}
		c := broker.Control{Kind: kind, User: req.User, Session: req.Session}
		if kind != broker.ControlDisconnect {
			if !req.Topic.present {
				badRequest(w, topicRequired)
				return
			}
			c.Topic = req.Topic.name
		}
		if err := s.broker.Control(r.Context(), c); err != nil {
			s.fail(w, r, err)
			return
		}
		writeRawJSON(w, http.StatusOK, []byte(`{}`))
	}
}

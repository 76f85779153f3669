package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/herald-broker/herald/broker"
)

// maxHistoryLimit is the most messages one history request may ask for;
// with none asked, broker.DefaultHistoryLimit.
const maxHistoryLimit = 1000

// historyQuery is a parsed GET /api/history query.
type historyQuery struct {
	topic string
	since uint64
	limit int
}

// parseHistoryQuery reads topic (required), since (default 0) and limit
// (default broker.DefaultHistoryLimit, at least 1, capped at
// maxHistoryLimit). The topic itself is the broker's to check.
func parseHistoryQuery(r *http.Request) (historyQuery, error) {
	q := r.URL.Query()
	h := historyQuery{topic: q.Get("topic"), limit: broker.DefaultHistoryLimit}
	if !q.Has("topic") { // an empty one is an invalid topic, as in a publish
		return h, fmt.Errorf("topic is required")
	}
	if v := q.Get("since"); v != "" {
		since, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return h, fmt.Errorf("since must be a whole number, 0 or more")
		}
		h.since = since
	}
	if v := q.Get("limit"); v != "" {
		limit, err := strconv.Atoi(v)
		if err != nil || limit < 1 {
			return h, fmt.Errorf("limit must be a whole number, 1 or more")
		}
		h.limit = min(limit, maxHistoryLimit)
	}
	return h, nil
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	res, err := s.broker.History(r.Context(), q.topic, q.since, q.limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, appendHistoryJSON(nil, q.topic, res))
}

// appendHistoryJSON writes {"topic","epoch","seq","messages"} by hand so
// that each message is exactly what a WebSocket subscriber receives, data
// byte for byte (encoding/json would compact it).
func appendHistoryJSON(dst []byte, topic string, res broker.HistoryResult) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, topic)
	dst = append(dst, `,"epoch":`...)
	dst = appendJSONString(dst, res.Epoch)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, res.Seq, 10)
	dst = append(dst, `,"messages":[`...)
	for i, m := range res.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = broker.AppendMessageJSON(dst, m, "")
	}
	return append(dst, "]}"...)
}

// appendJSONString appends s as json.Marshal would. Topics and message
// ids, the strings of every publish's reply, are printable ASCII that
// needs no escape and take the short way.
func appendJSONString(dst []byte, s string) []byte {
	if plainJSON(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}

// plainJSON reports whether s is printable ASCII that json.Marshal
// copies as it is, between quotes: no quote, backslash or, as it escapes
// them for HTML, '<', '>' or '&'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// statsReply is GET /api/stats.
type statsReply struct {
	Node        string `json:"node"`
	UptimeS     int64  `json:"uptime_s"`
	Connections int64  `json:"connections"` // WebSocket and SSE
	// SSEConnections are the SSE streams among Connections.
	SSEConnections int64  `json:"sse_connections"`
	Subscriptions  int64  `json:"subscriptions"`
	Topics         int64  `json:"topics"`
	MessagesIn     uint64 `json:"messages_in"`
	MessagesOut    uint64 `json:"messages_out"`
	Version        string `json:"version"`
	// Cluster is every node's view, this one's included (cluster.go).
	Cluster clusterStats `json:"cluster"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	st := s.broker.Stats()
	writeJSON(w, http.StatusOK, statsReply{
		Node:           st.Node,
		UptimeS:        int64(st.Uptime / time.Second),
		Connections:    st.Connections,
		SSEConnections: st.Streams,
		Subscriptions:  st.Subscriptions,
		Topics:         st.Topics,
		MessagesIn:     st.MessagesIn,
		MessagesOut:    st.MessagesOut,
		Version:        s.cfg.Version,
		Cluster:        s.stats.cluster(r.Context()),
	})
}

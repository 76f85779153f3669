package api

import (
	"net/http"
	"strconv"

	"github.com/herald-broker/herald/broker"
)

// topicsFlushBytes is how much of GET /api/topics is built before it is
// written. The answer goes out as the broker's listing is read, so that
// a node of hundreds of thousands of topics, tens of MB of answer, holds
// some 60 KB for it (this and the listing's chunk) however many ask. The
// chunk grows past 24 KiB only on a node of more than a million topics
// or 16,384 patterns: a sixteenth of a shard, or of the patterns.
const topicsFlushBytes = 32 << 10

// handleTopics answers {"topics":[{"topic":..,"subscribers":..},...]}
// chunk by chunk as broker.ListTopics hands it over, holding no lock of
// the broker's while it writes. Its writes have the deadline every reply
// has, the server's WriteTimeout from the request: a reader that has not
// taken the whole list by then is dropped, and frees its handler. A
// failed write ends the connection without the chunked body's end, so
// that what was written never passes for the whole list.
func (s *Server) handleTopics(w http.ResponseWriter, r *http.Request) {
	setJSONHeaders(w.Header())
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	out := topicsWriter{w: w, buf: make([]byte, 0, topicsFlushBytes+512)}
	out.buf = append(out.buf, `{"topics":[`...)
	if err := s.broker.ListTopics(out.add); err != nil {
		panic(http.ErrAbortHandler) // the caller has gone or stalled
	}
	_ = out.end() // the last write: net/http ends the body only if it went
}

// topicsWriter writes a topic listing's JSON as it comes.
type topicsWriter struct {
	w    http.ResponseWriter
	buf  []byte // what is not written yet
	some bool   // a topic was put in buf: the next one follows a comma
}

func (t *topicsWriter) add(chunk []broker.TopicCount) error {
	for _, tc := range chunk {
		if t.some {
			t.buf = append(t.buf, ',')
		}
		t.some = true
		t.buf = appendTopicCount(t.buf, tc)
		if len(t.buf) >= topicsFlushBytes {
			if err := t.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *topicsWriter) end() error {
	t.buf = append(t.buf, "]}"...)
	return t.flush()
}

// flush writes buf. It does not look at the request's context: a client
// that shut down its side of the connection after its request has that
// context canceled, yet reads the answer; a write to a client that has
// gone fails as soon as its host has refused an earlier one.
func (t *topicsWriter) flush() error {
	_, err := t.w.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}

// appendTopicCount appends tc as json.Marshal would.
func appendTopicCount(dst []byte, tc broker.TopicCount) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, tc.Topic)
	dst = append(dst, `,"subscribers":`...)
	dst = strconv.AppendInt(dst, int64(tc.Subscribers), 10)
	return append(dst, '}')
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"

	"github.com/herald-broker/herald/broker"
)

// Bounds on what one publishing request may carry.
const (
	// envelopeBytes is room for everything around data: topic, key, names.
	envelopeBytes = 64 << 10
	// maxBroadcastTopics and maxBatchMessages bound one request's fan-in.
	maxBroadcastTopics = 1000
	maxBatchMessages   = 1000
	// minBatchBytes lets a batch carry many small messages.
	minBatchBytes = 4 << 20
)

// bodyLimits are the largest request bodies accepted, in bytes; a longer
// body is answered 413 message_too_large before it is read further.
type bodyLimits struct {
	publish   int64 // one data value plus its envelope
	broadcast int64 // one data value plus up to 1000 topics of 255 bytes
	batch     int64 // 4 MiB, or one maximal message if that is larger
}

func newBodyLimits(maxMessageBytes int) bodyLimits {
	m := int64(maxMessageBytes)
	return bodyLimits{
		publish:   m + envelopeBytes,
		broadcast: m + envelopeBytes + maxBroadcastTopics*(255+8),
		batch:     max(minBatchBytes, m+envelopeBytes),
	}
}

// decodeBody reads r's body, at most limit bytes, into v. It answers the
// failure itself and returns false when the body is too long or is not
// the JSON v expects.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	defer body.release()
	return unmarshalBody(w, body.bytes, v)
}

// unmarshalBody decodes body into v. It answers the failure itself and
// returns false when body is not the JSON v expects.
func unmarshalBody(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		badRequest(w, "the body is not the JSON expected: "+jsonProblem(err))
		return false
	}
	return true
}

// requestBody is a request's body read into a reused buffer. bytes are
// valid until release; whatever outlives the request must be copied out
// first (json.Unmarshal and the broker's Publish both copy).
type requestBody struct {
	bytes []byte
	buf   *[]byte // bytes' buffer, back to bodyBuffers on release
}

// bodyBuffers hold request bodies between reading and publishing. A
// publish that read into a fresh buffer allocated it, and again each time
// io.ReadAll grew it.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// initialBodyRoom is the most a fresh body buffer is given before any of
// the body has arrived, whatever Content-Length says: as much as net/http
// reads a connection with. Most publish bodies fit in it, read at once.
const initialBodyRoom = 4 << 10

// maxPooledBody is the largest buffer kept for reuse: most bodies are far
// smaller, and a rare large one should not stay in memory.
const maxPooledBody = 64 << 10

// reuse returns the buffer emptied, for the reply: once anything is
// appended to it, bytes, and whatever still points into them, are not to
// be read.
func (b requestBody) reuse() []byte { return (*b.buf)[:0] }

func (b requestBody) release() {
	if cap(b.bytes) <= maxPooledBody { // bytes may have outgrown the buffer
		*b.buf = b.bytes[:0]
		bodyBuffers.Put(b.buf)
	}
}

// readBody reads r's body, at most limit bytes. It answers the failure
// itself and returns false when the body is too long or cannot be read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (requestBody, bool) {
	buf := bodyBuffers.Get().(*[]byte)
	body := requestBody{buf: buf}
	var err error
	if n := r.ContentLength; n >= 0 && n <= limit {
		// The length is known and allowed: net/http's body ends there, or
		// reading it fails. Room for more than initialBodyRoom is made as
		// the bytes arrive, so that a client that declares a long body
		// and sends none of it holds no more than that.
		body.bytes, err = appendAll(slices.Grow((*buf)[:0], int(min(n, initialBodyRoom))), r.Body)
	} else {
		body.bytes, err = appendAll((*buf)[:0], http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		body.release()
		bodyUnread(w, err, limit)
		return requestBody{}, false
	}
	// Read to its end, the body closes at once; net/http would otherwise
	// look for more of it after the reply, through an io.LimitReader it
	// allocates.
	r.Body.Close()
	return body, true
}

// bodyUnread answers a body that could not be read whole.
func bodyUnread(w http.ResponseWriter, err error, limit int64) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeFailure(w, broker.CodeMessageTooLarge, fmt.Sprintf("the request body is longer than %d bytes", limit))
		return
	}
	badRequest(w, "the request body could not be read")
}

// appendAll is io.ReadAll appending to b.
func appendAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// jsonProblem says what is wrong with a body in words a caller can act on.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return "expected a JSON object"
		}
		return fmt.Sprintf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind()))
	}
	return err.Error()
}

// jsonKind names the JSON value a Go kind is decoded from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}

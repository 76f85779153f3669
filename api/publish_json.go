package api

import (
	"strconv"
)

// The bodies of /api/publish and /api/batch are read, and their replies
// written, by hand: they are every publish's, and encoding/json spent
// allocations and reflection on three fields. The replies are byte for
// byte what json.Marshal makes of publishReply and resultsReply, and the
// bodies decode as json.Unmarshal decodes them
// (publish_json_internal_test.go checks both).

// appendPublishReply appends r as a JSON object.
func appendPublishReply(dst []byte, r publishReply) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, r.Topic)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"msg":`...)
	dst = appendJSONString(dst, r.Msg)
	return append(dst, '}')
}

// appendResults appends the reply of a broadcast or batch that published
// every message: {"results":[...]}.
func appendResults(dst []byte, results []publishReply) []byte {
	dst = append(dst, `{"results":[`...)
	for i, r := range results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPublishReply(dst, r)
	}
	return append(dst, "]}"...)
}

// readPublish reads body into req when it has the usual shape: an object
// of topic, data and idempotency_key, each at most once, topic and key
// printable ASCII strings without escapes. It does so without reflection
// and without copying data, which then points into body, and without
// checking data: broker.CheckMessage does, once. Every other body is left
// to encoding/json.
func readPublish(body []byte, req *publishRequest) bool {
	d := publishReader{b: body}
	return d.message(req) && d.end()
}

// readBatch is readPublish for a batch: {"messages":[...]}, each message
// of the usual shape.
func readBatch(body []byte, req *batchRequest) bool {
	d := publishReader{b: body}
	return d.batch(req) && d.end()
}

// publishReader reads JSON text of the usual shape of a publishing
// request. Each method returns false at the first byte it does not expect,
// valid JSON or not; the caller then hands the whole body to
// encoding/json. Data values are only delimited, not checked: a body it
// accepts is valid JSON exactly when every data value is, and then
// encoding/json decodes it to the same values (FuzzReadPublish and
// FuzzReadBatch check both).
type publishReader struct {
	b []byte
	i int
}

// message reads one publishRequest object.
func (d *publishReader) message(req *publishRequest) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var seen [3]bool // topic, data, idempotency_key: a repeated one is left to encoding/json
	for {
		key, ok := d.plainString()
		if !ok || !d.consume(':') {
			return false
		}
		switch string(key) {
		case "topic":
			v, ok := d.plainString()
			if !ok || seen[0] {
				return false
			}
			seen[0], req.Topic = true, present(string(v))
		case "data":
			v, ok := d.value()
			if !ok || seen[1] {
				return false
			}
			seen[1], req.Data = true, v
		case "idempotency_key":
			v, ok := d.plainString()
			if !ok || seen[2] {
				return false
			}
			seen[2], req.IdempotencyKey = true, string(v)
		default:
			return false
		}
		if !d.consume(',') {
			return d.consume('}')
		}
	}
}

// batch reads a batchRequest object.
func (d *publishReader) batch(req *batchRequest) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	if key, ok := d.plainString(); !ok || string(key) != "messages" || !d.consume(':') || !d.consume('[') {
		return false
	}
	// Room for messages of about 64 bytes, the most a batch may hold
	// and one more: growing the slice allocated for 1, 2, 4... messages.
	req.Messages = make([]publishRequest, 0, min(len(d.b)/64+1, maxBatchMessages+1))
	for !d.consume(']') {
		if len(req.Messages) > 0 && !d.consume(',') {
			return false
		}
		var m publishRequest
		if !d.message(&m) {
			return false
		}
		req.Messages = append(req.Messages, m)
	}
	return d.consume('}')
}

// end reports whether only whitespace is left.
func (d *publishReader) end() bool {
	d.space()
	return d.i == len(d.b)
}

func (d *publishReader) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume steps over c, after whitespace, if it comes next.
func (d *publishReader) consume(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes, which
// encoding/json decodes to the same bytes, and returns them.
func (d *publishReader) plainString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	for j := d.i; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[d.i:j]
			d.i = j + 1
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// maxDataDepth is the deepest data value read here. encoding/json refuses
// a body nested more than 10,000 deep, and a batch puts data 3 levels
// down: deeper data goes to encoding/json, which answers as it did.
const maxDataDepth = 9000

// value steps over the next value and returns its bytes, unchecked: only
// strings and brackets are followed, so that the value's end is found.
func (d *publishReader) value() ([]byte, bool) {
	d.space()
	start, depth := d.i, 0
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '"':
			if !d.skipString() {
				return nil, false
			}
			if depth == 0 {
				return d.b[start:d.i], true
			}
			continue
		case '{', '[':
			if depth++; depth > maxDataDepth {
				return nil, false
			}
		case '}', ']':
			if depth == 0 { // a number or literal ends at its container's end
				return d.b[start:d.i], d.i > start
			}
			if depth--; depth == 0 {
				d.i++
				return d.b[start:d.i], true
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return d.b[start:d.i], d.i > start
			}
		}
		d.i++
	}
	return nil, false
}

// skipString steps over the string that starts at i.
func (d *publishReader) skipString() bool {
	for j := d.i + 1; j < len(d.b); j++ {
		switch d.b[j] {
		case '\\':
			j++
		case '"':
			d.i = j + 1
			return true
		}
	}
	return false
}

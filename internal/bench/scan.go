package bench

import (
	"bytes"
	"math"
	"strconv"
)

// The server's messages are read by scanning bytes for the few fields the
// benchmark needs, never by decoding JSON: a decode per delivery would make
// the tool, not the server, the bottleneck. The scans rely on what the
// benchmark publishes itself ({"t":..,"n":..} under "data") and on the
// server's fields being plain JSON; they are not a general JSON reader.

// msgType returns the value of the first "type" field of a server message.
func msgType(msg []byte) []byte {
	return stringField(msg, `"type":"`)
}

// stringField returns the string after key (which ends with the opening
// quote), up to the closing quote; nil when key is absent.
func stringField(msg []byte, key string) []byte {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return nil
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// intField returns the integer after key (such as `"seq":`) in msg.
func intField(msg []byte, key string) (int64, bool) {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return 0, false
	}
	return parseInt(msg[i+len(key):])
}

// parseInt reads a decimal integer at the start of b, after any spaces.
func parseInt(b []byte) (int64, bool) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	digits := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false // would overflow
		}
		n = n*10 + d
		digits++
	}
	if digits == 0 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// delivery is what the benchmark reads from a "message".
type delivery struct {
	seq  int64 // the message's seq in its topic
	sent int64 // "t" inside data: when the publisher sent it, Unix ns
	n    int64 // "n" inside data: the publisher's counter
}

// parseDelivery reads seq, and t and n from data, of a "message".
func parseDelivery(msg []byte) (delivery, bool) {
	var d delivery
	var ok bool
	if d.seq, ok = intField(msg, `"seq":`); !ok {
		return d, false
	}
	d.sent, d.n, ok = parseData(msg)
	return d, ok
}

// parseData reads t and n from the first "data" of msg: the payload the
// benchmark published, whichever server carried it.
func parseData(msg []byte) (sent, n int64, ok bool) {
	i := bytes.Index(msg, []byte(`"data":`))
	if i < 0 {
		return 0, 0, false
	}
	data := msg[i:]
	if sent, ok = intField(data, `"t":`); !ok {
		return 0, 0, false
	}
	n, _ = intField(data, `"n":`)
	return sent, n, true
}

// appendPayload appends the data value the benchmark publishes.
func appendPayload(dst []byte, sentNanos, n int64) []byte {
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, sentNanos, 10)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '}')
}

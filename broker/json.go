package broker

import (
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON text.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendField appends ,"key":"value".
func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendUintField appends ,"key":n.
func appendUintField(b []byte, key string, n uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, n, 10)
}

// appendID appends the command's id when it had one.
func appendID(b []byte, id echoID) []byte {
	if !id.set {
		return b
	}
	return appendField(b, "id", id.id)
}

// echoID is the id a reply echoes: none for a notice or a command that
// carried none, else the command's, "" included (docs/protocol.md
// section 2: a string id is echoed).
type echoID struct {
	id  string
	set bool
}

// AppendMessageJSON appends m as a WebSocket "message" object, tagged with
// pattern when it is not empty. data is copied byte for byte.
func AppendMessageJSON(dst []byte, m *Message, pattern string) []byte {
	dst = append(dst, `{"type":"message"`...)
	dst = appendField(dst, "topic", m.Topic)
	if pattern != "" {
		dst = appendField(dst, "pattern", pattern)
	}
	return appendMessageRest(dst, m)
}

// appendMessageRest appends what follows the topic and pattern of m's
// message object: the same whatever pattern tags it (deflate_parts.go).
func appendMessageRest(dst []byte, m *Message) []byte {
	dst = appendField(dst, "epoch", m.Epoch)
	dst = appendUintField(dst, "seq", m.Seq)
	dst = appendField(dst, "msg", m.ID)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, m.Time, 10)
	dst = append(dst, `,"data":`...)
	dst = append(dst, m.Data...)
	return append(dst, '}')
}

// appendGapJSON appends a "gap" object: seqs from..to of m's topic, in m's
// epoch, will never be delivered (docs/protocol.md section 2).
func appendGapJSON(dst []byte, m *Message, from uint64, pattern string) []byte {
	dst = append(dst, `{"type":"gap"`...)
	dst = appendField(dst, "topic", m.Topic)
	if pattern != "" {
		dst = appendField(dst, "pattern", pattern)
	}
	dst = appendField(dst, "epoch", m.Epoch)
	dst = appendUintField(dst, "from", from)
	dst = appendUintField(dst, "to", m.Seq)
	return append(dst, '}')
}

// gapFrame encodes the gap marker m as a frame, starting at from.
func gapFrame(m *Message, from uint64, pattern string) []byte {
	b := newFrame(96 + len(m.Topic) + len(pattern) + len(m.Epoch))
	return finishFrame(appendGapJSON(b, m, from, pattern))
}

// messageFields is the room a message object takes besides its strings
// and data: its keys, quotes and punctuation (85 bytes with "pattern"),
// and a seq and a time of 20 digits each.
const messageFields = 85 + 2*20

// messageFrame encodes m once as a complete frame, shared by every
// subscriber it goes to; a gap marker becomes its gap frame.
func messageFrame(m *Message, pattern string) []byte {
	if m.isGap() {
		return gapFrame(m, m.gapFrom, pattern)
	}
	b := newFrame(messageFields + len(m.Topic) + len(pattern) + len(m.Epoch) + len(m.ID) + len(m.Data))
	return finishFrame(AppendMessageJSON(b, m, pattern))
}

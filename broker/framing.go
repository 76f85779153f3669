package broker

// Framing is how a session's connection puts server messages on the wire.
// The transport chooses it when the connection opens (ClientInfo.Framing);
// fan-out encodes a message once per framing its subscribers use, not once
// per subscriber (encoded).
type Framing uint8

const (
	// FramingWebSocket: RFC 6455 text frames, one per message.
	FramingWebSocket Framing = iota
	// FramingWebSocketDeflate: text frames, those whose JSON text is
	// Config.CompressMinBytes or longer compressed as RFC 7692's
	// permessage-deflate without context takeover (deflate.go), the
	// others as FramingWebSocket.
	FramingWebSocketDeflate
	// FramingSSE: Server-Sent Events (docs/protocol.md section 10; sse.go),
	// for the sessions of OpenStream only.
	FramingSSE

	numFramings // the size of encoded's table; keep last
)

// String names the framing in logs and test failures.
func (f Framing) String() string {
	switch f {
	case FramingWebSocket:
		return "websocket"
	case FramingWebSocketDeflate:
		return "websocket+deflate"
	case FramingSSE:
		return "sse"
	}
	return "unknown framing"
}

// valid reports whether f is one of the framings above.
func (f Framing) valid() bool { return f < numFramings }

// encoded is one message, tagged with one pattern (or none), as it goes on
// the wire in each framing. Each form is built the first time a subscriber
// in that framing is offered the message, then shared by every subscriber
// in it: a fan-out to plain WebSocket subscribers only never compresses,
// and one to deflate subscribers compresses once. An encoded lives for
// one fan-out, on one goroutine; the frames it hands out are immutable and
// outlive it (connections queue them).
type encoded struct {
	m           *Message
	pattern     string
	compressMin int // the broker's resolved Config.CompressMinBytes
	frames      [numFramings][]byte
	// rest is the part of m's text every tag shares, compressed once
	// for the fan-out's tagged frames (deflate_parts.go); nil: m is
	// compressed whole.
	rest *messageRest
}

// newEncoded returns m, tagged with pattern, not yet encoded in any framing.
func (b *Broker) newEncoded(m *Message, pattern string) encoded {
	return encoded{m: m, pattern: pattern, compressMin: b.cfg.CompressMinBytes}
}

// frame returns the complete frame of the message in framing f.
func (e *encoded) frame(f Framing) []byte {
	if fr := e.frames[f]; fr != nil {
		return fr
	}
	var fr []byte
	switch f {
	case FramingWebSocketDeflate:
		if e.rest != nil && e.pattern != "" && !e.m.isGap() {
			fr = deflateMessageFrame(e.frame(FramingWebSocket), e.compressMin, e.m, e.rest)
		} else {
			fr = deflateFrame(e.frame(FramingWebSocket), e.compressMin)
		}
	case FramingSSE:
		fr = sseMessageEvent(e.json(), e.m, e.pattern == "")
	default:
		fr = messageFrame(e.m, e.pattern)
	}
	e.frames[f] = fr
	return fr
}

// json returns the message's JSON text: the payload of its WebSocket frame,
// built if it was not yet. A framing other than WebSocket's is built from it.
func (e *encoded) json() []byte {
	return framePayload(e.frame(FramingWebSocket))
}

// framed returns plain, a complete text frame of this package, as s's
// framing puts it on the wire: a reply or a message sent to s alone.
func (s *Session) framed(plain []byte) []byte {
	switch s.framing {
	case FramingWebSocketDeflate:
		return deflateFrame(plain, s.b.cfg.CompressMinBytes)
	case FramingSSE:
		return sseNotice(framePayload(plain))
	}
	return plain
}

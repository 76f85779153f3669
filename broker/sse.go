package broker

import "bytes"

// Server-Sent Events framing (docs/protocol.md section 10). A message is
// an event with no "event:" line (a gap has "event: gap"), the JSON text a
// WebSocket client gets in "data:", and an "id:" (streamid.go). Lines end
// with LF. The JSON text holds no line break but in the whitespace of
// data as published; each one starts a new "data:" line, which the client
// joins with LF, so its JSON is the same value (a CR arrives as LF).

// sseMessageEvent is the shared form of message m, whose JSON text is
// json: its event and data lines and, when withID (m came through an
// exact topic), the id of a stream that has m's topic alone, ending the
// event. Without the id it is unfinished: each stream appends its own
// (stream.deliver).
func sseMessageEvent(json []byte, m *Message, withID bool) []byte {
	b := make([]byte, 0, len(json)+48+2*hashDigits+maxSeqDigits)
	if m.isGap() {
		b = append(b, "event: gap\n"...)
	}
	b = appendDataLines(b, json)
	if withID {
		b = append(b, "id: "...)
		b = append(b, streamIDVersion)
		b = appendIDEntry(b, idEntry{topic: idHash(m.Topic), epoch: idHash(m.Epoch), seq: m.Seq})
		b = append(b, "\n\n"...)
	}
	return b
}

// sseNotice is a reply or notice whose JSON text is json (an object whose
// first member is its type) as an event named by that type, without id:
// what a WebSocket client gets besides messages, such as an unsubscribed
// sent by the server.
func sseNotice(json []byte) []byte {
	b := make([]byte, 0, len(json)+32)
	if t := noticeType(json); t != nil {
		b = append(b, "event: "...)
		b = append(b, t...)
		b = append(b, '\n')
	}
	b = appendDataLines(b, json)
	return append(b, '\n')
}

// noticeType is the type of a JSON text this package wrote, nil if it
// does not start with one.
func noticeType(json []byte) []byte {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(json, []byte(prefix)) {
		return nil
	}
	rest := json[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return nil
	}
	return rest[:end]
}

// appendDataLines appends text as "data:" lines, one per line of text
// (CR, LF and CRLF each end one, as an SSE parser reads them).
func appendDataLines(b, text []byte) []byte {
	b = append(b, "data: "...)
	for {
		i := bytes.IndexAny(text, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, text[:i]...)
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		b = append(b, "\ndata: "...)
		text = text[i+1:]
	}
	b = append(b, text...)
	return append(b, '\n')
}

// sseEventEnded reports whether an SSE form of a message is a whole event
// (it carries its id) rather than the shared part that each stream ends
// with its own id.
func sseEventEnded(ev []byte) bool { return bytes.HasSuffix(ev, []byte("\n\n")) }

// sseData is the shared part of a whole event: its lines before "id:".
func sseData(ev []byte) []byte {
	if !sseEventEnded(ev) {
		return ev
	}
	return ev[:bytes.LastIndex(ev, []byte("\nid: "))+1]
}

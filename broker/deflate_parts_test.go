package broker

import (
	"bytes"
	"testing"
)

// TestTaggedMessageIsCompressedInParts: a message that goes to deflate
// connections through several patterns reaches each as its own JSON text,
// "pattern" included, and the compressed text of what follows the
// pattern is the same bytes in every frame, compressed once for the
// fan-out (in parts it compresses the rest once and each tag's head, not
// the rest once per tag); the exact topic's frame inflates to the
// untagged text.
func TestTaggedMessageIsCompressedInParts(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	patterns := []string{"a.b.c", "a.b.*", "a.*.c", "*.b.c", "*.*.*", "a.>", ">"}
	conns := make([]*keepConn, len(patterns))
	for i, p := range patterns {
		conns[i] = &keepConn{}
		s := b.Connect(conns[i], ClientInfo{Framing: FramingWebSocketDeflate})
		sub := &subscription{session: s, pattern: p, exact: !IsPattern(p)}
		s.addLocked(sub)
		b.index(sub)
		conns[i].frames = nil // the welcome
	}
	m := &Message{Topic: "a.b.c", Epoch: "e", Seq: 1, ID: "id", Data: jsonOf(20000)}
	sc := scratchPool.New().(*fanoutScratch)
	b.fanOut(m, sc)
	// In parts: the rest once, and the heads of the tags.
	restText := appendMessageRest(nil, m)
	if got, most := sc.rest.deflated, len(restText)+len(patterns)*100; got < len(restText) || got > most {
		t.Errorf("the fan-out compressed %d bytes in parts, want the rest's %d once and the tags' heads, %d at most", got, len(restText), most)
	}
	rest := deflateSync(restText)
	shared := rest[:len(rest)-len(deflateTail)]
	for i, p := range patterns {
		if len(conns[i].frames) != 1 {
			t.Fatalf("%s: %d frames", p, len(conns[i].frames))
		}
		frame := conns[i].frames[0]
		tag := p
		if !IsPattern(p) {
			tag = ""
		}
		got, err := parseServerFrame(frame)
		if want := AppendMessageJSON(nil, m, tag); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: the frame inflates to %d bytes (%v), want the %d of its text", p, len(got), err, len(want))
		}
		if frame[0] != finText|rsv1 || len(frame) >= len(got) {
			t.Errorf("%s: frame of %d bytes (first byte %#x) for %d of text", p, len(frame), frame[0], len(got))
		}
		if tag != "" && !bytes.HasSuffix(framePayload(frame), shared) {
			t.Errorf("%s: the frame does not end with the rest compressed once", p)
		}
	}
}

// TestOnePatternIsCompressedWhole: a message that goes to deflate
// connections through one pattern only has nothing to share with another
// tag, and its text is compressed whole, as an exact topic's: the frame
// is deflateFrame's, with no sync flush between two parts.
func TestOnePatternIsCompressedWhole(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	conns := []*keepConn{{}, {}}
	for _, c := range conns {
		s := b.Connect(c, ClientInfo{Framing: FramingWebSocketDeflate})
		sub := &subscription{session: s, pattern: "a.*"}
		s.addLocked(sub)
		b.index(sub)
		c.frames = nil // the welcome
	}
	m := &Message{Topic: "a.b", Epoch: "e", Seq: 1, ID: "id", Data: jsonOf(2000)}
	b.HandleMessage(m)
	want := deflateFrame(messageFrame(m, "a.*"), DefaultCompressMinBytes)
	for i, c := range conns {
		if len(c.frames) != 1 || !bytes.Equal(c.frames[0], want) {
			t.Fatalf("connection %d: %d frames, want the text compressed whole (%d bytes)", i, len(c.frames), len(want))
		}
	}
}

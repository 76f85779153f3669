package bench

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/gobwas/ws"
)

// serverFrame builds an unmasked frame as a server sends it.
func serverFrame(t *testing.T, fin bool, op ws.OpCode, payload []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	f := ws.NewFrame(op, fin, payload)
	if err := ws.WriteFrame(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseHeaderLengths(t *testing.T) {
	var p headerReader
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		frame := serverFrame(t, true, ws.OpText, make([]byte, n))
		h, size, err := p.parse(frame, false)
		if err != nil || size == 0 {
			t.Fatalf("length %d: size %d, err %v", n, size, err)
		}
		if h.Length != int64(n) || !h.Fin || h.OpCode != ws.OpText || size+n != len(frame) {
			t.Errorf("length %d: got %+v, header size %d", n, h, size)
		}
		for cut := 0; cut < size; cut++ {
			if _, s, err := p.parse(frame[:cut], false); s != 0 || err != nil {
				t.Errorf("length %d cut at %d: size %d err %v, want need more", n, cut, s, err)
			}
		}
	}
}

// The checks are gobwas/ws's; these cases pin that parse makes them as a
// client does, and wraps what they find in ErrFrame.
func TestParseHeaderRefusesBadFrames(t *testing.T) {
	cases := map[string]struct {
		b          []byte
		fragmented bool
	}{
		"masked":                   {b: []byte{0x81, 0x80 | 1, 1, 2, 3, 4, 'x'}},
		"rsv1":                     {b: []byte{0xC1, 0}},
		"reserved opcode 3":        {b: []byte{0x83, 0}},
		"reserved opcode 0xB":      {b: []byte{0x8B, 0}},
		"fragmented ping":          {b: []byte{0x09, 0}},
		"control over 125":         {b: []byte{0x89, 126, 0, 126}},
		"length's top bit":         {b: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		"length over the cap":      {b: []byte{0x82, 127, 0, 0, 0, 0, 0x7F, 0, 0, 0}},
		"stray continuation":       {b: []byte{0x80, 0}},
		"text inside a fragmented": {b: []byte{0x81, 0}, fragmented: true},
	}
	var p headerReader
	for name, c := range cases {
		if _, _, err := p.parse(c.b, c.fragmented); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: err %v, want ErrFrame", name, err)
		}
	}
}

func TestClientFramesAreMaskedAndRoundTrip(t *testing.T) {
	var fw frameWriter
	for _, n := range []int{0, 5, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		raw := fw.frame(ws.OpText, payload)
		f, err := ws.ReadFrame(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		if !f.Header.Masked || !f.Header.Fin || f.Header.OpCode != ws.OpText {
			t.Errorf("length %d: header %+v", n, f.Header)
		}
		ws.Cipher(f.Payload, f.Header.Mask, 0)
		if !bytes.Equal(f.Payload, payload) {
			t.Errorf("length %d: payload differs after unmasking", n)
		}
	}
}

func TestCloseCode(t *testing.T) {
	if c := closeCode([]byte{0x0F, 0xA0, 'x'}); c != 4000 {
		t.Errorf("code %d, want 4000", c)
	}
	if c := closeCode(nil); c != 1005 {
		t.Errorf("empty close: %d, want 1005", c)
	}
}

// streamConn is a net.Conn that reads one stream and swallows writes.
type streamConn struct {
	net.Conn
	r *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error) { return len(p), nil }

// FuzzReadMessage feeds the frame reader any stream: it must end in an
// error, never a panic, and hand out only whole messages it was sent.
func FuzzReadMessage(f *testing.F) {
	f.Add(ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"message"}`))))
	f.Add(append(ws.MustCompileFrame(ws.NewFrame(ws.OpText, false, []byte("ab"))),
		ws.MustCompileFrame(ws.NewFrame(ws.OpContinuation, true, []byte("c")))...))
	f.Add(ws.MustCompileFrame(ws.NewPingFrame([]byte("hb"))))
	f.Add(ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(4002, ""))))
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := &wsConn{nc: &streamConn{r: bytes.NewReader(stream)}, buf: make([]byte, readBufSize)}
		got := 0
		for {
			msg, _, err := c.ReadMessage()
			if err != nil {
				return
			}
			if got += len(msg); got > len(stream) {
				t.Fatalf("read %d message bytes from a stream of %d", got, len(stream))
			}
		}
	})
}

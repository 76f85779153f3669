package bench

import (
	"bytes"
	"errors"
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
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		frame := serverFrame(t, true, ws.OpText, make([]byte, n))
		h, size, err := parseHeader(frame)
		if err != nil || size == 0 {
			t.Fatalf("length %d: size %d, err %v", n, size, err)
		}
		if h.length != n || !h.fin || h.opcode != opText || size+n != len(frame) {
			t.Errorf("length %d: got %+v, header size %d", n, h, size)
		}
		for cut := 0; cut < size; cut++ {
			if _, s, err := parseHeader(frame[:cut]); s != 0 || err != nil {
				t.Errorf("length %d cut at %d: size %d err %v, want need more", n, cut, s, err)
			}
		}
	}
}

func TestParseHeaderRefusesBadFrames(t *testing.T) {
	cases := map[string][]byte{
		"masked":              {0x81, 0x80 | 1, 1, 2, 3, 4, 'x'},
		"rsv1":                {0xC1, 0},
		"reserved opcode 3":   {0x83, 0},
		"reserved opcode 0xB": {0x8B, 0},
		"fragmented ping":     {0x09, 0},
		"control over 125":    {0x89, 126, 0, 126},
		"length over the cap": {0x82, 127, 0, 0, 0, 0, 0x7F, 0, 0, 0},
	}
	for name, b := range cases {
		if _, _, err := parseHeader(b); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: err %v, want ErrFrame", name, err)
		}
	}
}

func TestClientFramesAreMaskedAndRoundTrip(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		raw := appendClientFrame(nil, opText, payload)
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

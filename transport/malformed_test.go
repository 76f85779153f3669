package transport

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// malformedCases are inputs every server must answer with one exact close
// code (docs/protocol.md section 6, RFC 6455). The fuzz seed corpus holds them
// too.
var malformedCases = []struct {
	name  string
	input []byte
	code  ws.StatusCode
}{
	{"unmasked", rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 2}, []byte("hi")), 1002},
	{"rsv1", rawFrame(ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Masked: true, Length: 2}, []byte("hi")), 1002},
	{"rsv3", rawFrame(ws.Header{Fin: true, Rsv: 1, OpCode: ws.OpText, Masked: true, Length: 2}, []byte("hi")), 1002},
	{"reserved data opcode", frame(0x3, true, []byte("hi")), 1002},
	{"reserved control opcode", frame(0xB, true, nil), 1002},
	{"long ping", frame(ws.OpPing, true, bytes.Repeat([]byte("p"), 126)), 1002},
	{"fragmented ping", frame(ws.OpPing, false, []byte("p")), 1002},
	{"continuation first", frame(ws.OpContinuation, true, []byte("x")), 1002},
	{"text inside fragmented", append(frame(ws.OpText, false, []byte("a")), frame(ws.OpText, true, []byte("b"))...), 1002},
	{"binary", frame(ws.OpBinary, true, []byte{0, 1}), 1003},
	{"invalid utf8", frame(ws.OpText, true, []byte{0xff, 0xfe}), 1007},
	{"invalid utf8 in fragments", append(frame(ws.OpText, false, []byte("ok")), frame(ws.OpContinuation, true, []byte{0xc3})...), 1007},
	{"too big header only", rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 1 << 20}, nil), 1009},
	{"too big in fragments", append(frame(ws.OpText, false, bytes.Repeat([]byte("a"), 150)), rawFrame(ws.Header{Fin: true, OpCode: ws.OpContinuation, Masked: true, Length: 150}, nil)...), 1009},
	{"64-bit length msb", []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 1002},
	{"close one-byte body", frame(ws.OpClose, true, []byte{3}), 1002},
	{"close code 999", frame(ws.OpClose, true, closeBody(999, "")), 1002},
	{"close code 1005", frame(ws.OpClose, true, closeBody(1005, "")), 1002},
	{"close code 2000", frame(ws.OpClose, true, closeBody(2000, "")), 1002},
	{"close code 5000", frame(ws.OpClose, true, closeBody(5000, "")), 1002},
	{"close reason not utf8", frame(ws.OpClose, true, closeBody(1000, "\xff")), 1002},
	// Autobahn case 7.5.1: a reason holding an encoded surrogate (ED A0 80).
	{"close reason with a surrogate", frame(ws.OpClose, true, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")), 1002},
}

// testMaxMessage is the MaxMessageBytes of the server tests: a text message
// over 2×128 closes with 1009.
const testMaxMessage = 128

func TestMalformedFramesCloseWithTheirCode(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxMessageBytes: testMaxMessage})
		for _, tc := range malformedCases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, ts.addr, nil)
				c.write(tc.input)
				if got := c.closeCode(); got != tc.code {
					t.Fatalf("close code %d, want %d", got, tc.code)
				}
			})
		}
	})
}

func TestCloseHandshakeEchoesCode(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		for _, code := range []ws.StatusCode{1000, 1001, 3000, 4999} {
			c := dialRaw(t, ts.addr, nil)
			c.write(frame(ws.OpClose, true, closeBody(code, "bye")))
			if got := c.closeCode(); got != code {
				t.Fatalf("close reply %d, want %d", got, code)
			}
		}
		c := dialRaw(t, ts.addr, nil)
		c.write(frame(ws.OpClose, true, nil))
		if got := c.closeCode(); got != 0 {
			t.Fatalf("reply to an empty close has code %d, want none", got)
		}
		eventually(t, "every connection disconnected once", func() bool {
			if len(ts.acc.all()) != 5 { // as many as were dialled: not a loop over none
				return false
			}
			for _, s := range ts.acc.all() {
				if s.disconnected.Load() != 1 {
					return false
				}
			}
			return ts.srv.Connections() == 0
		})
	})
}

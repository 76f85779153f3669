package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A connection that fails on what completes a frame it held in part, or
// a fragmented message it held, gives back what its reader counted in its
// address's AddressReads once it ends, whatever the close: what an
// address's failed connections counted would otherwise stay counted as
// long as the address has a connection open, until its every frame that
// comes in parts is refused with 1008.
func TestAFailedReaderGivesBackItsAddressReads(t *testing.T) {
	const size = 100 << 10
	text := bytes.Repeat([]byte("a"), size)
	notUTF8 := append(bytes.Repeat([]byte("a"), size-1), 0xff)
	whole := frame(ws.OpText, true, text)
	bad := frame(ws.OpText, true, notUTF8)
	tooBig := frame(ws.OpText, true, make([]byte, 300<<10))[:14]
	cases := []struct {
		name        string
		first, rest []byte
		code        ws.StatusCode
	}{
		{"invalid UTF-8", bad[:size/2], bad[size/2:], ws.StatusInvalidFramePayloadData},
		{"binary after it", whole[:size/2], join(whole[size/2:], frame(ws.OpBinary, true, []byte("b"))), ws.StatusUnsupportedData},
		{"too big after it", whole[:size/2], join(whole[size/2:], tooBig), ws.StatusMessageTooBig},
		{"unmasked after it", whole[:size/2], join(whole[size/2:], rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Length: 1}, []byte("u"))), ws.StatusProtocolError},
		{"fragmented, invalid UTF-8", frame(ws.OpText, false, text), frame(ws.OpContinuation, true, []byte{0xff}), ws.StatusInvalidFramePayloadData},
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		hourly := time.Hour
		cfg := Config{MaxMessageBytes: 128 << 10, Heartbeat: hourly, FragmentTimeout: hourly}
		ts, reads := startReadsServer(t, portable, cfg, 1<<20)
		for i, tc := range cases {
			c := dialRaw(t, ts.addr, nil)
			c.write(tc.first)
			eventually(t, tc.name+": the first part counted", func() bool { return reads.Held() > 0 })
			c.write(tc.rest)
			if code := c.closeCode(); code != tc.code {
				t.Fatalf("%s: closed with %d, want %d", tc.name, code, tc.code)
			}
			c.nc.Close()
			s := ts.acc.all()[i]
			eventually(t, tc.name+": disconnected", func() bool { return s.disconnected.Load() == 1 })
			if held := reads.Held(); held != 0 {
				t.Fatalf("%s: the address holds %d bytes once its connection is gone, want 0", tc.name, held)
			}
		}
	})
}

// join is a and b in an array of their own.
func join(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }

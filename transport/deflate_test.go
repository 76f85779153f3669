package transport

import (
	"bufio"
	"bytes"
	"compress/flate"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/herald-broker/herald/broker"
)

// offering is the upgrade request with a Sec-WebSocket-Extensions line.
func offering(extensions string) string {
	return strings.Replace(upgradeRequest, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: "+extensions+"\r\n\r\n", 1)
}

// dialDeflate upgrades offering permessage-deflate as browsers do and
// fails unless the server accepted it.
func dialDeflate(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, h := dialRawRequest(t, &net.Dialer{Timeout: 5 * time.Second}, addr, offering("permessage-deflate; client_max_window_bits"), nil)
	if got := h.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(got, "permessage-deflate") {
		t.Fatalf("deflate not accepted: Sec-WebSocket-Extensions %q", got)
	}
	return c
}

// compressedFrame is a masked client frame with RSV1 set.
func compressedFrame(op ws.OpCode, fin bool, payload []byte) []byte {
	return rawFrame(ws.Header{Fin: fin, Rsv: ws.Rsv(true, false, false), OpCode: op, Masked: true, Mask: [4]byte{9, 8, 7, 6}, Length: int64(len(payload))}, payload)
}

// TestDeflateNegotiation: an acceptable offer is answered with no context
// takeover both ways and opens the connection in the deflate framing;
// anything else upgrades without compression.
func TestDeflateNegotiation(t *testing.T) {
	const accepted = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
	tests := []struct {
		name, offer string
		disable     bool
		want        string // the 101's Sec-WebSocket-Extensions
	}{
		{"browser offer", "permessage-deflate; client_max_window_bits", false, accepted},
		{"bare offer", "permessage-deflate", false, accepted},
		{"both no context takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, accepted},
		{"second offer fits", "permessage-deflate; server_max_window_bits=10, permessage-deflate", false, accepted},
		{"small server window", "permessage-deflate; server_max_window_bits=10", false, ""},
		{"full server window", "permessage-deflate; server_max_window_bits=15; client_max_window_bits", false, accepted + ";server_max_window_bits=15"},
		{"full server window after a small one", "permessage-deflate; server_max_window_bits=9, permessage-deflate; server_max_window_bits=15", false, accepted + ";server_max_window_bits=15"},
		{"unknown parameter", "permessage-deflate; level=9", false, ""},
		{"repeated parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, ""},
		{"other extension", "x-webkit-deflate-frame", false, ""},
		{"compression disabled", "permessage-deflate; client_max_window_bits", true, ""},
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{DisableCompression: false})
		off := startServer(t, portable, Config{DisableCompression: true})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := ts
				if tt.disable {
					srv = off
				}
				before := len(srv.acc.all())
				c, h := dialRawRequest(t, &net.Dialer{Timeout: 5 * time.Second}, srv.addr, offering(tt.offer), nil)
				if got := h.Get("Sec-WebSocket-Extensions"); got != tt.want {
					t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, tt.want)
				}
				// Open runs once the 101 is written: wait for it.
				eventually(t, "the connection opened", func() bool { return len(srv.acc.all()) == before+1 })
				sessions := srv.acc.all()
				want := broker.FramingWebSocket
				if tt.want != "" {
					want = broker.FramingWebSocketDeflate
				}
				if got := sessions[before].framing; got != want {
					t.Fatalf("opened with framing %v, want %v", got, want)
				}
				c.nc.Close()
			})
		}
	})
}

// TestCompressedClientMessages: once deflate is negotiated a client may
// send compressed messages, whole or fragmented, and plain ones too.
func TestCompressedClientMessages(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		c := dialDeflate(t, ts.addr)
		whole := strings.Repeat("héllo wörld, ", 40)
		c.write(compressedFrame(ws.OpText, true, mustDeflate([]byte(whole))))
		if got := c.text(); got != whole {
			t.Fatalf("compressed message echoed as %q", got)
		}
		c.write(frame(ws.OpText, true, []byte("plain")))
		if got := c.text(); got != "plain" {
			t.Fatalf("plain message echoed as %q", got)
		}
		// Fragmented: RSV1 on the first frame only (RFC 7692 section 6.1),
		// a ping between, delivered a byte at a time.
		p := mustDeflate([]byte(whole))
		var in []byte
		in = append(in, compressedFrame(ws.OpText, false, p[:3])...)
		in = append(in, frame(ws.OpPing, true, []byte("mid"))...)
		in = append(in, frame(ws.OpContinuation, false, p[3:10])...)
		in = append(in, frame(ws.OpContinuation, true, p[10:])...)
		for i := range in {
			c.write(in[i : i+1])
		}
		if f, err := c.next(); err != nil || f.Header.OpCode != ws.OpPong {
			t.Fatalf("first frame %+v, %v; want the pong", f.Header, err)
		}
		if got := c.text(); got != whole {
			t.Fatalf("fragmented compressed message echoed as %q", got)
		}
	})
}

// compressedCases are what a compressed message can break once deflate is
// negotiated, with the close code each gets (docs/protocol.md section 13);
// the fuzz seed corpus holds them too. The size limit (2×testMaxMessage)
// holds for the inflated text.
var compressedCases = []struct {
	name  string
	input []byte
	code  ws.StatusCode
}{
	// A few dozen bytes that inflate to 64 KiB.
	{"inflates past the limit", compressedFrame(ws.OpText, true, mustDeflate(bytes.Repeat([]byte("a"), 64<<10))), 1009},
	{"not deflate", compressedFrame(ws.OpText, true, []byte{0xff, 0xff, 0xff, 0xff}), 1007},
	{"cut short", compressedFrame(ws.OpText, true, mustDeflate([]byte(strings.Repeat("cut ", 50)))[:10]), 1007},
	{"not utf8 once inflated", compressedFrame(ws.OpText, true, mustDeflate([]byte{'a', 0xff})), 1007},
	{"rsv1 on a continuation", append(frame(ws.OpText, false, []byte("a")), compressedFrame(ws.OpContinuation, true, []byte("b"))...), 1002},
	{"rsv1 on a ping", compressedFrame(ws.OpPing, true, nil), 1002},
	{"rsv1 on a close", compressedFrame(ws.OpClose, true, nil), 1002},
	{"rsv2", rawFrame(ws.Header{Fin: true, Rsv: ws.Rsv(false, true, false), OpCode: ws.OpText, Masked: true, Length: 2}, []byte("hi")), 1002},
	{"rsv1 on binary", compressedFrame(ws.OpBinary, true, mustDeflate([]byte("x"))), 1003},
}

// mustDeflate compresses text as one permessage-deflate message (RFC 7692
// section 7.2.1: the sync flush's tail dropped).
func mustDeflate(text []byte) []byte {
	p, err := wsflate.DefaultHelper.Compress(text)
	if err != nil {
		panic(err)
	}
	return p
}

func TestCompressedMessageErrors(t *testing.T) {
	if bomb := compressedCases[0].input; len(bomb) > 2*testMaxMessage {
		t.Fatalf("the bomb is %d bytes: the frame limit would stop it, not the inflate", len(bomb))
	}
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{MaxMessageBytes: testMaxMessage})
		for _, tc := range compressedCases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialDeflate(t, ts.addr)
				c.write(tc.input)
				if got := c.closeCode(); got != tc.code {
					t.Fatalf("close code %d, want %d", got, tc.code)
				}
			})
		}
	})
}

// validCompressedStream is what a client that negotiated deflate may
// send: a compressed message, a fragmented one with a ping between, a
// plain one, an empty compressed one; and the texts they carry.
func validCompressedStream() ([]byte, []string) {
	texts := []string{strings.Repeat("one ", 30), strings.Repeat("twö ", 40), "plain", ""}
	two := mustDeflate([]byte(texts[1]))
	var in []byte
	in = append(in, compressedFrame(ws.OpText, true, mustDeflate([]byte(texts[0])))...)
	in = append(in, compressedFrame(ws.OpText, false, two[:5])...)
	in = append(in, frame(ws.OpPing, true, []byte("p"))...)
	in = append(in, frame(ws.OpContinuation, true, two[5:])...)
	in = append(in, frame(ws.OpText, true, []byte(texts[2]))...)
	in = append(in, compressedFrame(ws.OpText, true, mustDeflate(nil))...)
	return in, texts
}

func TestReaderInflatesWhateverTheChunking(t *testing.T) {
	in, want := validCompressedStream()
	for _, chunk := range []int{1, 2, 7, 64, len(in)} {
		sink, r, err := feedInChunks(in, chunk, 1<<20, true)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !slices.Equal(sink.texts, want) || len(sink.pings) != 1 {
			t.Fatalf("chunk %d: texts %q, %d pings", chunk, sink.texts, len(sink.pings))
		}
		if !r.idle() {
			t.Fatalf("chunk %d: the reader holds state after whole messages", chunk)
		}
	}
	// Without negotiation the first compressed frame is a protocol error.
	if _, _, err := feedInChunks(in, len(in), 1<<20, false); codeOf(err) != 1002 {
		t.Fatalf("RSV1 without deflate: %v", err)
	}
}

// TestInflateStopsAtTheLimit: a message that inflates a thousandfold is
// refused once the limit is crossed, having read a small part of its
// input and grown its buffer to the limit only: bounded memory and CPU.
func TestInflateStopsAtTheLimit(t *testing.T) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 16 { // 16 MiB of zeros
		_, _ = w.Write(zeros)
	}
	_ = w.Flush()
	bomb := buf.Bytes()
	const limit = 64 << 10
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	if _, err := in.inflate(bomb, limit); err != errCompressedTooBig {
		t.Fatalf("inflate = %v, want errCompressedTooBig", err)
	}
	if read := len(bomb) - in.src.Len(); read > len(bomb)/8 {
		t.Errorf("read %d of the bomb's %d bytes to refuse it", read, len(bomb))
	}
	if cap(in.out) > 2*(limit+1) {
		t.Errorf("output buffer grew to %d bytes for a limit of %d", cap(in.out), limit)
	}
	// The same inflater then serves a good message.
	text := []byte(strings.Repeat("fine ", 100))
	got, err := in.inflate(mustDeflate(text), limit)
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("after the bomb: %q, %v", got, err)
	}
}

// TestUnparsableExtensionsHeaderIsRefused: a Sec-WebSocket-Extensions
// header that is not a list of extensions fails the handshake with 400
// (RFC 6455 section 4.2.1), where a parsable offer Herald declines does not.
func TestUnparsableExtensionsHeaderIsRefused(t *testing.T) {
	ts := startServer(t, false, Config{})
	for _, h := range []string{";;;", "permessage-deflate; =", `"quoted"`} {
		nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write([]byte(offering(h))); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		nc.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%q: %v, %v; want 400", h, resp, err)
		}
	}
}

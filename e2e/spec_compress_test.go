package e2e

import (
	"bytes"
	"compress/flate"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// Tests of section 13 (compression) of the wire protocol, against herald
// processes, with clients that read RSV1 and inflate each message alone.

func TestSpecCompression(t *testing.T) {
	t.Parallel()
	on := startProcess(t, "deflate")
	off := startProcess(t, "no-deflate", "HERALD_COMPRESS_MIN_BYTES=0")

	t.Run("the 101 reply", func(t *testing.T) {
		c := wsOpen(t, on.ws, dialOpts{deflate: true})
		if !strings.HasPrefix(c.extensions, "permessage-deflate") || !strings.Contains(c.extensions, "server_no_context_takeover") {
			t.Errorf("offered permessage-deflate: Sec-WebSocket-Extensions %q, want permessage-deflate with server_no_context_takeover", c.extensions)
		}
		if c := wsOpen(t, on.ws, dialOpts{}); c.extensions != "" {
			t.Errorf("offered nothing: Sec-WebSocket-Extensions %q", c.extensions)
		}
		if c := wsOpen(t, off.ws, dialOpts{deflate: true}); c.extensions != "" {
			t.Errorf("HERALD_COMPRESS_MIN_BYTES=0: Sec-WebSocket-Extensions %q", c.extensions)
		}
	})

	t.Run("messages from HERALD_COMPRESS_MIN_BYTES on", func(t *testing.T) {
		d1, d2 := wsOpen(t, on.ws, dialOpts{deflate: true}), wsOpen(t, on.ws, dialOpts{deflate: true})
		plain := wsOpen(t, on.ws, dialOpts{})
		for _, c := range []*client{d1, d2, plain} {
			c.cmd("s", `{"type":"subscribe","id":"s","topic":"z.room"}`)
		}
		// Seqs 1 to 9 keep the JSON text's length but for data.
		publish(t, &on.node, "z.room", `"x"`)
		base := len(d1.next().text) - len(`"x"`)
		d2.next()
		plain.next()
		data := func(textLen int) string { return `"` + strings.Repeat("x", textLen-base-2) + `"` }

		for _, tc := range []struct {
			textLen    int
			compressed bool
		}{{256, true}, {255, false}, {4000, true}, {4000, true}} {
			publish(t, &on.node, "z.room", data(tc.textLen))
			a, b, p := d1.next(), d2.next(), plain.next()
			if len(p.text) != tc.textLen || p.rsv1 {
				t.Fatalf("plain client: %d bytes, RSV1 %v; want %d, not compressed", len(p.text), p.rsv1, tc.textLen)
			}
			for i, f := range []frame{a, b} {
				if f.rsv1 != tc.compressed || !bytes.Equal(f.text, p.text) {
					t.Errorf("deflate client %d, text of %d bytes: RSV1 %v, want %v; inflated equal %v", i, tc.textLen, f.rsv1, tc.compressed, bytes.Equal(f.text, p.text))
				}
			}
			if tc.compressed && !bytes.Equal(a.raw, b.raw) {
				t.Errorf("text of %d bytes: two subscribers got different compressed bytes", tc.textLen)
			}
			if tc.compressed && len(a.raw) >= len(a.text) {
				t.Errorf("text of %d bytes compressed to %d", len(a.text), len(a.raw))
			}
		}
	})

	t.Run("a message tagged with a pattern", func(t *testing.T) {
		d, plain := wsOpen(t, on.ws, dialOpts{deflate: true}), wsOpen(t, on.ws, dialOpts{})
		d.cmd("s", `{"type":"subscribe","id":"s","topic":"zp.*"}`)
		plain.cmd("s", `{"type":"subscribe","id":"s","topic":"zp.*"}`)
		publish(t, &on.node, "zp.a", `"`+strings.Repeat("p", 1000)+`"`)
		f, p := d.next(), plain.next()
		if !f.rsv1 || !bytes.Equal(f.text, p.text) || f.obj()["pattern"] != "zp.*" {
			t.Errorf("compressed %v, pattern %v, equal to the plain text %v", f.rsv1, f.obj()["pattern"], bytes.Equal(f.text, p.text))
		}
	})

	t.Run("compression off", func(t *testing.T) {
		c := wsOpen(t, off.ws, dialOpts{deflate: true})
		c.cmd("s", `{"type":"subscribe","id":"s","topic":"z.off"}`)
		publish(t, &off.node, "z.off", `"`+strings.Repeat("x", 4000)+`"`)
		if f := c.next(); f.rsv1 {
			t.Error("HERALD_COMPRESS_MIN_BYTES=0: a compressed frame")
		}
	})

	t.Run("a compressed command from the client", func(t *testing.T) {
		c := wsOpen(t, on.ws, dialOpts{deflate: true})
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write([]byte(`{"type":"subscribe","id":"z","topic":"z.client"}`))
		w.Flush()
		p := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
		h := ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Masked: true, Mask: ws.NewMask(), Length: int64(len(p))}
		var frame bytes.Buffer
		ws.WriteHeader(&frame, h)
		ws.Cipher(p, h.Mask, 0)
		frame.Write(p)
		if _, err := c.conn.Write(frame.Bytes()); err != nil {
			t.Fatal(err)
		}
		if r := c.reply("z").obj(); r["type"] != "subscribed" {
			t.Errorf("a compressed subscribe: %v", r)
		}
	})
}

package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/transport"
)

// dialOffering opens a WebSocket to addr offering permessage-deflate as a
// browser does, reads its welcome, and says whether the server accepted.
func dialOffering(t *testing.T, addr string) (*client, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	offer := httphead.Option{Name: []byte(wsflate.ExtensionName)}
	offer.Parameters.Set([]byte("client_max_window_bits"), nil)
	d := ws.Dialer{Extensions: []httphead.Option{offer}}
	nc, br, hs, err := d.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(wait))
	c := &client{Conn: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	if _, err := ws.ReadFrame(c.r); err != nil {
		t.Fatalf("welcome: %v", err)
	}
	accepted := false
	for _, x := range hs.Extensions {
		accepted = accepted || string(x.Name) == wsflate.ExtensionName
	}
	return c, accepted
}

// nextMessage reads frames up to the next "message" and returns it as it
// came: its header and payload, compressed or not.
func nextMessage(t *testing.T, c *client) ws.Frame {
	t.Helper()
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			t.Fatalf("waiting for a message: %v", err)
		}
		if f.Header.OpCode != ws.OpText {
			continue
		}
		text := textOf(t, f)
		if bytes.Contains(text, []byte(`"type":"message"`)) {
			return f
		}
	}
}

// textOf is a text frame's JSON, inflated when RSV1 says it is compressed.
func textOf(t *testing.T, f ws.Frame) []byte {
	t.Helper()
	compressed, err := wsflate.IsCompressed(f.Header)
	if err != nil {
		t.Fatal(err)
	}
	if !compressed {
		return f.Payload
	}
	text, err := wsflate.DefaultHelper.Decompress(f.Payload)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return text
}

// bigData is JSON data that makes a message of about n bytes.
func bigData(n int) []byte {
	return []byte(`{"text":"` + strings.Repeat("spam and eggs ", n/14) + `"}`)
}

// TestCompressionEndToEnd: a client that offers permessage-deflate gets a
// large message compressed, inflating to exactly the JSON a plain client
// gets, and a small one plain; it may send compressed commands.
func TestCompressionEndToEnd(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			n, _, addr := serve(t, node.Config{Transport: transport.Config{Portable: portable}})
			plain, _ := dial(t, addr)
			deflate, accepted := dialOffering(t, addr)
			if !accepted {
				t.Fatal("permessage-deflate was not negotiated")
			}
			subscribe(t, plain, "t")
			subscribe(t, deflate, "t")

			for _, size := range []int{1000, 10} {
				if _, err := n.Broker.Publish(context.Background(), "t", bigData(size), ""); err != nil {
					t.Fatal(err)
				}
				want, got := nextMessage(t, plain), nextMessage(t, deflate)
				if want.Header.Rsv != 0 {
					t.Fatalf("the plain client got RSV %#x", want.Header.Rsv)
				}
				compressed, _ := wsflate.IsCompressed(got.Header)
				if big := size > broker.DefaultCompressMinBytes; compressed != big {
					t.Fatalf("data of %d bytes: compressed %v", size, compressed)
				}
				if !bytes.Equal(textOf(t, got), want.Payload) {
					t.Fatalf("the deflate client's message differs:\n%s\n%s", textOf(t, got), want.Payload)
				}
				if compressed && len(got.Payload) >= len(want.Payload) {
					t.Fatalf("compressed %d bytes, plain %d", len(got.Payload), len(want.Payload))
				}
			}

			// A compressed publish command.
			cmd := fmt.Sprintf(`{"type":"publish","id":"p","topic":"t","data":%s}`, bigData(2000))
			f, err := wsflate.CompressFrame(ws.NewTextFrame([]byte(cmd)))
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.WriteFrame(deflate, ws.MaskFrameInPlace(f)); err != nil {
				t.Fatal(err)
			}
			if got := nextMessage(t, plain); !bytes.Contains(got.Payload, bigData(2000)) {
				t.Fatalf("the compressed publish delivered %s", got.Payload)
			}
		})
	}
}

// TestCompressionOff: with CompressMinBytes negative (HERALD_COMPRESS_MIN_BYTES=0)
// nothing is negotiated and every message goes plain.
func TestCompressionOff(t *testing.T) {
	n, _, addr := serve(t, node.Config{CompressMinBytes: -1})
	c, accepted := dialOffering(t, addr)
	if accepted {
		t.Fatal("permessage-deflate was negotiated with compression off")
	}
	subscribe(t, c, "t")
	if _, err := n.Broker.Publish(context.Background(), "t", bigData(2000), ""); err != nil {
		t.Fatal(err)
	}
	if got := nextMessage(t, c); got.Header.Rsv != 0 || !bytes.Contains(got.Payload, bigData(2000)) {
		t.Fatalf("message with RSV %#x: %.80s", got.Header.Rsv, got.Payload)
	}
	// RSV1 is then a protocol error, as without an offer.
	f, _ := wsflate.CompressFrame(ws.NewTextFrame([]byte(`{"type":"ping","id":"1"}`)))
	if err := ws.WriteFrame(c, ws.MaskFrameInPlace(f)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, c); code != ws.StatusProtocolError {
		t.Fatalf("a compressed frame closed with %d, want 1002", code)
	}
}

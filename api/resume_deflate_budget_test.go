package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	"github.com/herald-broker/herald/broker"
)

// A resume to a client that negotiated compression counts one command
// for each broker.DeflatedCommandBytes of history it sends, not each
// broker.ResumeCommandBytes: its history is compressed for it alone,
// which tripled the node's CPU a resume (2 to 2.6 ms for 100 messages of
// 9 KB sent plain, 7 to 7.4 ms compressed), so that counted alike an
// address's budget brought three times the CPU it was set for. A plain
// client's resume counts as it did.
func TestCompressedResumeCountsItsCompression(t *testing.T) {
	const burst, published, size = 100, 100, 9 << 10
	n := startNode(t, api.Config{MaxMessageBytes: 64 << 10,
		Conns: connLimiter(t, limits.ConnConfig{CommandRate: 1, CommandBurst: burst})}, nil)
	pad := strings.Repeat("x", size)
	for i := range published {
		n.post(t, "/api/publish", fmt.Sprintf(`{"topic":"big","data":"%d %s"}`, i+1, pad)).wantOK(t, &published_{})
	}
	var pos published_ // the topic's epoch, which a publish's reply leaves out
	reply := mustConnect(t, n.wsURL, dialer{from: "127.0.0.4"}).command(`{"type":"subscribe","id":"s","topic":"big"}`)
	if err := json.Unmarshal(reply, &pos); err != nil || pos.Seq != published {
		t.Fatalf("subscribe: %s", reply)
	}
	history := published * size // at least: each message's frame holds its data and more
	for _, tc := range []struct {
		from    string
		deflate bool
		least   int // commands the resume counts beside its own, at least
		most    int
	}{
		{"127.0.0.2", false, history / broker.ResumeCommandBytes, history/broker.ResumeCommandBytes + 2},
		{"127.0.0.3", true, history / broker.DeflatedCommandBytes, history/broker.DeflatedCommandBytes + 5},
	} {
		c := dialCompressing(t, n.wsURL, tc.from, tc.deflate)
		c.send(fmt.Sprintf(`{"type":"subscribe","id":"s","topic":"big","since":{"epoch":%q,"seq":0}}`, pos.Epoch))
		compressed := 0
		for i := range 1 + published { // the reply, then the history
			text, rsv1 := c.frame()
			if i == 0 && !bytes.Contains(text, []byte(`"recovered":true`)) {
				t.Fatalf("deflate %v: resume answered %s", tc.deflate, text)
			}
			if rsv1 {
				compressed++
			}
		}
		if tc.deflate != (compressed == published) {
			t.Fatalf("deflate %v: %d of %d messages came compressed", tc.deflate, compressed, published)
		}
		pongs := 0
		for i := 0; ; i++ {
			c.send(fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i))
			text, _ := c.frame()
			if !bytes.Contains(text, []byte(`"type":"pong"`)) {
				if !bytes.Contains(text, []byte("from this address")) {
					t.Fatalf("deflate %v: ping answered %s", tc.deflate, text)
				}
				break
			}
			pongs++
		}
		// The budget's rate, one a second, may add a command or two.
		counted := burst - 1 - pongs
		if counted < tc.least || counted > tc.most {
			t.Errorf("deflate %v: the resume of %d bytes of history counted %d commands beside its own, want %d to %d",
				tc.deflate, history, counted, tc.least, tc.most)
		}
	}
}

// compressingClient reads frames whatever their RSV1, and sends plain
// text frames.
type compressingClient struct {
	t    *testing.T
	conn net.Conn
}

// dialCompressing connects to url from the loopback address from,
// offering permessage-deflate when deflate, and reads the welcome.
func dialCompressing(t *testing.T, url, from string, deflate bool) *compressingClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{NetDial: dialer{from: from}.netDial}
	if deflate {
		d.Extensions = []httphead.Option{httphead.NewOption("permessage-deflate", nil)}
	}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if br != nil {
		conn = bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	t.Cleanup(func() { conn.Close() })
	c := &compressingClient{t: t, conn: conn}
	if w, _ := c.frame(); !bytes.Contains(w, []byte(`"type":"welcome"`)) {
		t.Fatalf("first message %s is not a welcome", w)
	}
	return c
}

// frame reads the next message, one frame from this server, pings passed
// over, and returns its payload, compressed or not (not inflated: the
// test only counts them), and whether RSV1 said it was compressed.
func (c *compressingClient) frame() ([]byte, bool) {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, err := ws.ReadHeader(c.conn)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.conn, p); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if h.OpCode == ws.OpPing {
			continue
		}
		if h.OpCode != ws.OpText || !h.Fin {
			c.t.Fatalf("frame %v %q, want a whole text message", h.OpCode, p)
		}
		return p, h.Rsv1()
	}
}

func (c *compressingClient) send(msg string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

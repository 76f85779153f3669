package broker

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// inflate undoes one permessage-deflate message (RFC 7692 section 7.2.2):
// the tail the sender dropped goes back before inflating.
func inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	out, err := io.ReadAll(r)
	if err == io.ErrUnexpectedEOF { // the stream has no final block, as the RFC has it
		err = nil
	}
	return out, err
}

// jsonOf makes a compressible JSON text of about n bytes.
func jsonOf(n int) []byte {
	return []byte(`{"text":"` + strings.Repeat("spam and eggs ", n/14) + `"}`)
}

func plainFrameOf(payload []byte) []byte {
	return finishFrame(append(newFrame(len(payload)), payload...))
}

func TestDeflateFrame(t *testing.T) {
	for _, n := range []int{300, 4000, 70000, 200000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			payload := jsonOf(n)
			plain := plainFrameOf(payload)
			got := deflateFrame(plain, 256)
			if got[0] != finText|rsv1 {
				t.Fatalf("first byte %#x, want FIN, RSV1 and text", got[0])
			}
			if len(got) >= len(plain) {
				t.Fatalf("compressed frame %d bytes, plain %d", len(got), len(plain))
			}
			inflated, err := parseServerFrame(got)
			if err != nil || !bytes.Equal(inflated, payload) {
				t.Fatalf("inflates to %d bytes (%v), want the %d of the payload", len(inflated), err, len(payload))
			}
		})
	}
}

// TestDeflateFrameLeavesPlain: a payload under the threshold, compression
// turned off, or data that deflate does not shorten go out as they came.
func TestDeflateFrameLeavesPlain(t *testing.T) {
	random := make([]byte, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name    string
		payload []byte
		min     int
	}{
		{"under the threshold", jsonOf(250), 256},
		{"off", jsonOf(4000), -1},
		{"incompressible", random, 256},
	}
	for _, tt := range tests {
		plain := plainFrameOf(tt.payload)
		if got := deflateFrame(plain, tt.min); &got[0] != &plain[0] || len(got) != len(plain) {
			t.Errorf("%s: got a new frame of %d bytes (first byte %#x)", tt.name, len(got), got[0])
		}
	}
	// At the threshold exactly, it compresses.
	payload := jsonOf(300)
	if got := deflateFrame(plainFrameOf(payload), len(payload)); got[0] != finText|rsv1 {
		t.Errorf("a payload of exactly the threshold was not compressed")
	}
}

// deflateFanout subscribes plain and deflate sessions to "t", half of
// each through the exact topic and half through a pattern, and fans one
// message of size bytes out to them.
func deflateFanout(t *testing.T, size int) (plain, deflated []*keepConn, payload []byte) {
	t.Helper()
	b, _ := newTestBroker(t, Config{})
	for i := range 8 {
		c := &keepConn{}
		framing := FramingWebSocket
		if i%2 == 1 {
			framing = FramingWebSocketDeflate
		}
		s := b.Connect(c, ClientInfo{Framing: framing})
		pattern := "t"
		if i >= 4 {
			pattern = "*"
		}
		sub := &subscription{session: s, pattern: pattern, exact: !IsPattern(pattern)}
		s.addLocked(sub)
		b.index(sub)
		c.frames = nil // the welcome
		if framing == FramingWebSocket {
			plain = append(plain, c)
		} else {
			deflated = append(deflated, c)
		}
	}
	m := &Message{Topic: "t", Epoch: "e", Seq: 1, ID: "id", Data: jsonOf(size)}
	b.HandleMessage(m)
	return plain, deflated, AppendMessageJSON(nil, m, "")
}

// keepConn keeps the frames it is sent as they are, to compare arrays.
type keepConn struct{ frames [][]byte }

func (c *keepConn) Send(f []byte) bool { c.frames = append(c.frames, f); return true }
func (c *keepConn) Close(int, string)  {}

// TestFanoutCompressesOnce: a large message is compressed once per
// topic or pattern, and the same bytes go to every deflate subscriber of
// it; plain subscribers share the plain frame. A small one goes plain to
// all.
func TestFanoutCompressesOnce(t *testing.T) {
	plain, deflated, payload := deflateFanout(t, 2000)
	for i, group := range [][]*keepConn{plain, deflated} {
		for j, c := range group {
			if len(c.frames) != 1 {
				t.Fatalf("group %d conn %d got %d frames", i, j, len(c.frames))
			}
		}
		// Two through "t", two through "*": one array for each.
		if &group[0].frames[0][0] != &group[1].frames[0][0] || &group[2].frames[0][0] != &group[3].frames[0][0] {
			t.Errorf("group %d: subscribers of one topic got different arrays", i)
		}
	}
	if plain[0].frames[0][0] != finText || deflated[0].frames[0][0] != finText|rsv1 {
		t.Fatalf("first bytes %#x (plain) and %#x (deflate)", plain[0].frames[0][0], deflated[0].frames[0][0])
	}
	got, err := parseServerFrame(deflated[0].frames[0])
	if err != nil || !bytes.Equal(got, payload) {
		t.Errorf("the compressed frame inflates to %q (%v), want %q", got, err, payload)
	}
	if len(deflated[0].frames[0]) >= len(plain[0].frames[0]) {
		t.Errorf("compressed %d bytes, plain %d", len(deflated[0].frames[0]), len(plain[0].frames[0]))
	}

	plain, deflated, _ = deflateFanout(t, 100)
	if &plain[0].frames[0][0] != &deflated[0].frames[0][0] {
		t.Errorf("a message under the threshold was framed twice")
	}
}

// TestPlainFanoutDoesNotCompress: with no deflate subscriber a large
// message costs what a small one does (its frame): nothing is compressed.
func TestPlainFanoutDoesNotCompress(t *testing.T) {
	b, conn := fanoutBroker(t, 10)
	m := &Message{Topic: "t", Epoch: "e", ID: "id", Data: jsonOf(4000)}
	plainOnly := testing.AllocsPerRun(50, func() {
		m.Seq++
		b.HandleMessage(m)
	})
	s := b.Connect(conn, ClientInfo{Framing: FramingWebSocketDeflate})
	sub := &subscription{session: s, pattern: "t", exact: true}
	s.addLocked(sub)
	b.index(sub)
	withDeflate := testing.AllocsPerRun(50, func() {
		m.Seq++
		b.HandleMessage(m)
	})
	if plainOnly >= withDeflate {
		t.Errorf("allocations: %v with plain subscribers only, %v with one deflate subscriber", plainOnly, withDeflate)
	}
}

// TestRepliesAreFramedPerSession: what a session alone is sent (here an
// error naming a long id) is compressed for a deflate session when long
// enough, and plain otherwise.
func TestRepliesAreFramedPerSession(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	id := strings.Repeat("i", 300)
	for _, framing := range []Framing{FramingWebSocket, FramingWebSocketDeflate} {
		c := &keepConn{}
		s := b.Connect(c, ClientInfo{Framing: framing})
		s.HandleText([]byte(`{"type":"nope","id":"` + id + `"}`))
		if len(c.frames) != 2 {
			t.Fatalf("%v: %d frames, want the welcome and the error", framing, len(c.frames))
		}
		welcome, reply := c.frames[0], c.frames[1]
		if welcome[0] != finText {
			t.Errorf("%v: the short welcome went with first byte %#x", framing, welcome[0])
		}
		want := byte(finText)
		if framing == FramingWebSocketDeflate {
			want |= rsv1
		}
		if reply[0] != want {
			t.Errorf("%v: the long error went with first byte %#x, want %#x", framing, reply[0], want)
		}
		if text, err := parseServerFrame(reply); err != nil || !bytes.Contains(text, []byte(id)) {
			t.Errorf("%v: the error reads %q, %v", framing, text, err)
		}
	}
}

package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// readsAcceptor opens echo sessions that name reads as their address's
// bound, as api's receivers name their address's.
type readsAcceptor struct {
	echoAcceptor
	reads *AddressReads
}

type readsSession struct {
	*echoSession
	reads *AddressReads
}

func (s readsSession) AddressReads() *AddressReads { return s.reads }

func (a *readsAcceptor) Open(c broker.Conn, info broker.ClientInfo) Receiver {
	return readsSession{a.echoAcceptor.Open(c, info).(*echoSession), a.reads}
}

// startReadsServer is startServer whose connections share one
// AddressReads of limit bytes.
func startReadsServer(t *testing.T, portable bool, cfg Config, limit int) (*testServer, *AddressReads) {
	t.Helper()
	acc := &readsAcceptor{reads: NewAddressReads(limit)}
	return startServerOpening(t, portable, cfg, acc, &acc.echoAcceptor), acc.reads
}

// The frames that one address's connections send in part count in its
// AddressReads as long as their readers keep them: the connection whose
// reader would take the address past its bound is closed with 1008, the
// others read on, and a connection that ends gives back what it held.
// A connection of another address sends a frame as large in two parts
// meanwhile and is answered.
func TestPartialFramesCountInTheAddressBound(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		const (
			conns  = 4
			size   = 120 << 10
			sent   = 100 << 10
			limit  = 200 << 10
			hourly = time.Hour
		)
		cfg := Config{MaxMessageBytes: 64 << 10, Heartbeat: hourly, FragmentTimeout: hourly}
		ts, reads := startReadsServer(t, portable, cfg, limit)

		text := bytes.Repeat([]byte("a"), size)
		whole := frame(ws.OpText, true, text)
		clients := make([]*rawClient, conns)
		closed := 0
		for i := range clients {
			clients[i] = dialRaw(t, ts.addr, nil)
			before := reads.Held()
			clients[i].write(whole[:len(whole)-(size-sent)])
			eventually(t, "the frame counted or its connection closed", func() bool {
				return reads.Held() >= before+sent || clients[i].closing()
			})
			if reads.Held() > limit {
				t.Fatalf("the address holds %d bytes, past its bound %d", reads.Held(), limit)
			}
		}
		var open []*rawClient
		for _, c := range clients {
			if c.closing() {
				if code, reason := c.closeFrame(); code != broker.ClosePolicyViolation || reason != "too many unfinished messages from this address" {
					t.Fatalf("closed with %d %q, want 1008 for the address's bound", code, reason)
				}
				closed++
				continue
			}
			open = append(open, c)
		}
		t.Logf("%d of %d connections closed, the address holding %d bytes", closed, conns, reads.Held())
		if closed < conns-limit/sent {
			t.Fatalf("%d of %d connections holding %d bytes each closed under a bound of %d, want at least %d", closed, conns, sent, limit, conns-limit/sent)
		}

		ots, otherReads := startReadsServer(t, portable, cfg, limit)
		o := dialRaw(t, ots.addr, nil)
		o.write(whole[:len(whole)/2])
		eventually(t, "the other address's frame counted", func() bool { return otherReads.Held() > 0 })
		o.write(whole[len(whole)/2:])
		if got := o.text(); got != string(text) {
			t.Fatalf("the other address got %d bytes back, want %d", len(got), len(text))
		}

		for _, c := range open {
			c.write(whole[len(whole)-(size-sent):])
			if got := c.text(); got != string(text) {
				t.Fatalf("an open connection got %d bytes back, want %d", len(got), len(text))
			}
		}
		eventually(t, "the finished frames given back", func() bool { return reads.Held() == 0 && otherReads.Held() == 0 })

		// A connection that ends in the middle of a frame gives it back.
		c := dialRaw(t, ts.addr, nil)
		c.write(whole[:len(whole)/2])
		eventually(t, "the half frame counted", func() bool { return reads.Held() > 0 })
		c.nc.Close()
		eventually(t, "the half frame given back", func() bool { return reads.Held() == 0 })
	})
}

// closing reports whether a close frame came, without waiting for one.
func (c *rawClient) closing() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return false
			}
		}
		b, _ := c.br.Peek(c.br.Buffered())
		op, _, rest, ok := splitServerFrame(b)
		if !ok {
			return false
		}
		if op == ws.OpClose {
			return true
		}
		_, _ = c.br.Discard(len(b) - len(rest))
	}
}

// splitServerFrame splits the unmasked frame at the front of b.
func splitServerFrame(b []byte) (op ws.OpCode, payload, rest []byte, ok bool) {
	h, n, err := parseHeader(b)
	if err != nil || n == 0 || int64(len(b)-n) < h.Length {
		return 0, nil, nil, false
	}
	return h.OpCode, b[n : n+int(h.Length)], b[n+int(h.Length):], true
}

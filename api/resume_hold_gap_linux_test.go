//go:build linux

package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// tokenHoldNode starts a node that checks tokens, whose address 127.0.0.1
// has bound bytes of queue, and returns it with that AddressQueue.
func tokenHoldNode(t *testing.T, bound int) (*nodetest.Node, *transport.AddressQueue) {
	t.Helper()
	conns := connLimiter(t, limits.ConnConfig{MaxOpen: 100, Rate: 1e6, Burst: 1e6, QueueBytes: bound})
	nc := heraldnode.Config{NodeID: "test-node", API: api.Config{Conns: conns}, Tokens: hsVerifier(t)}
	nc.Broker.RateLimit = -1
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	slot, pacer, ok := conns.AcquirePaced(netip.MustParseAddr("127.0.0.1"))
	if !ok {
		t.Fatal("no budget for 127.0.0.1")
	}
	t.Cleanup(slot.Release)
	return n, pacer.(transport.AddressQueuer).AddressQueue()
}

// rawWebSocketPath upgrades a new socket from 127.0.0.1 on path and
// returns it with what it read past the response head.
func rawWebSocketPath(t *testing.T, addr netip.AddrPort, path string) (int, []byte) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval(int64(10e9))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := rawConnect(fd, addr); err != nil {
		t.Fatal(err)
	}
	rawWrite(t, fd, []byte("GET "+path+" HTTP/1.1\r\nHost: "+addr.String()+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	var got []byte
	buf := make([]byte, 16<<10)
	for {
		if i := bytes.Index(got, []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(got, []byte("HTTP/1.1 101")) {
				t.Fatalf("upgrade answered %q", got)
			}
			return fd, got[i+4:]
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("read upgrade: %d bytes, %v; got %q", n, err, got)
		}
		got = append(got, buf[:n]...)
	}
}

// nextServerFrame returns the next frame of fd, pending being what was
// read of it already and not taken.
func nextServerFrame(t *testing.T, fd int, pending *[]byte) (op byte, payload []byte) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for {
		if op, payload, rest, ok := serverFrame(*pending); ok {
			*pending = rest
			return op, payload
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("read a frame: %d bytes, %v; pending %q", n, err, *pending)
		}
		*pending = append(*pending, buf[:n]...)
	}
}

// TestATokensSubsResumeRefusedForItsAddressSendsNothingPastIt: a
// reconnecting client's token makes its subscription to a again, live
// from now, before the client's resume of it from seq 2 is read; that
// resume, refused for now as its address's queue bound cannot hold its
// history, must not leave the subscription sending what is published
// next, ahead of the history it missed: herald.js takes such a message,
// moving past seqs 3 to 5, and its retry from there is told recovered.
// The connection is closed 4000 instead, nothing sent past the
// refusal, and its client resumes from seq 2 again as it reconnects.
func TestATokensSubsResumeRefusedForItsAddressSendsNothingPastIt(t *testing.T) {
	const bound = 4 << 20
	n, q := tokenHoldNode(t, bound)
	ctx := context.Background()
	var epoch string
	for range 5 {
		res, err := n.Broker.Publish(ctx, "a", []byte(`"before"`), "")
		if err != nil {
			t.Fatal(err)
		}
		epoch = res.Epoch
	}
	// The address's other connections hold all but room for replies.
	held, ok := q.Hold(bound - 64<<10)
	if !ok {
		t.Fatal("the address's bound did not hold what its other connections hold")
	}
	defer q.Release(held)

	tok := claimsToken(t, "u", jwt.MapClaims{"allow": everything, "subs": []string{"a"}})
	fd, pending := rawWebSocketPath(t, netip.MustParseAddrPort(n.Addr), "/ws?token="+tok)
	for {
		op, payload := nextServerFrame(t, fd, &pending)
		if op == 0x1 && bytes.Contains(payload, []byte(`"welcome"`)) {
			break
		}
	}
	rawWrite(t, fd, maskedText(fmt.Sprintf(`{"type":"subscribe","id":"r","topic":"a","since":{"epoch":%q,"seq":2}}`, epoch)))
	// Published once the resume was answered: the refusal comes first,
	// or, when the connection is closed, nothing does.
	answered := false
	for !answered {
		op, payload := nextServerFrame(t, fd, &pending)
		switch {
		case op == 0x8:
			answered = true
			if code := binary.BigEndian.Uint16(payload); code != 4000 {
				t.Fatalf("the connection was closed %d, want 4000", code)
			}
			return
		case op == 0x1 && bytes.Contains(payload, []byte(`"id":"r"`)):
			t.Logf("the resume was answered %s", payload)
			answered = true
		case op == 0x1 && bytes.Contains(payload, []byte(`"type":"message"`)):
			t.Fatalf("a message came before the resume's answer: %s", payload)
		}
	}
	if _, err := n.Broker.Publish(ctx, "a", []byte(`"after"`), ""); err != nil {
		t.Fatal(err)
	}
	for {
		op, payload := nextServerFrame(t, fd, &pending)
		switch {
		case op == 0x8:
			if code := binary.BigEndian.Uint16(payload); code != 4000 {
				t.Fatalf("the connection was closed %d, want 4000", code)
			}
			return
		case op == 0x1 && bytes.Contains(payload, []byte(`"type":"message"`)):
			t.Fatalf("after the resume from seq 2 was refused, the subscription sent %s, past seqs 3 to 5 it never sent", payload)
		}
	}
}

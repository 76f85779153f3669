package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

type stats struct {
	Connections   int64 `json:"connections"`
	Subscriptions int64 `json:"subscriptions"`
}

func nodeStats(t *testing.T, n *node) stats {
	t.Helper()
	var s stats
	getJSON(t, n.base+"/api/stats", &s)
	return s
}

// A subscriber that never reads is closed as a slow consumer while a
// reading subscriber of the same topic gets every message.
func TestSlowReaderIsClosedWhileOthersGetEverything(t *testing.T) {
	// The slow socket, full, takes no close frame: the node closes it after
	// its close timeout, which at the default (5 s) made most of the test.
	n := startNode(t, options{maxQueueBytes: 256 << 10, closeTimeout: 500 * time.Millisecond})
	reader := dial(t, n.ws)
	reader.subscribe("r", "feed")
	slow := rawConn(t, n.ws, 4096)
	slow.Write(maskedText(`{"type":"subscribe","id":"s","topic":"feed"}`))

	data := `"` + strings.Repeat("x", 16<<10) + `"`
	var received atomic.Uint64 // the reader's last seq, read concurrently
	bad := make(chan error, 1)
	go func() { // read concurrently so the reader is never the slow one
		for f := range reader.frames {
			if f.Seq != received.Load()+1 {
				bad <- fmt.Errorf("reader got seq %d after %d", f.Seq, received.Load())
				return
			}
			received.Store(f.Seq)
		}
	}()
	// Publish in step with the reader, so that only the one that does not
	// read falls behind, until its connection is gone (bounded: 64 MiB).
	var last uint64
	for i := 0; i < 4096; i++ {
		last = publish(t, n, "feed", data)
		for deadline := time.Now().Add(wait); received.Load() < last && time.Now().Before(deadline); {
			time.Sleep(50 * time.Microsecond)
		}
		if i%16 == 15 && nodeStats(t, n).Connections < 2 {
			break
		}
	}
	// The slow one is sent 4000 as soon as it overflows, but its full
	// socket may keep it open for up to the close timeout (docs/protocol.md
	// section 6), longer than the publishes take on a fast machine.
	eventually(t, "the slow reader closed", func() bool { return nodeStats(t, n).Connections == 1 })
	deadline := time.Now().Add(wait)
	for received.Load() < last {
		select {
		case err := <-bad:
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reading subscriber got %d of %d messages", received.Load(), last)
		}
	}
	// What the slow socket holds ends with the 4000 close frame or just ends.
	slow.SetReadDeadline(time.Now().Add(wait))
	code := lastCloseCode(slow)
	if code != 4000 && code != 0 {
		t.Fatalf("slow reader closed with %d, want 4000", code)
	}
}

// Connections stalled in the middle of a frame hold nothing: a normal
// client is served, and a stalled frame completed later is handled.
func TestStalledMidFrameConnectionsDoNotDelayOthers(t *testing.T) {
	n := startNode(t, options{})
	frame := maskedText(`{"type":"ping","id":"late"}`)
	stalled := make([]net.Conn, 200)
	for i := range stalled {
		stalled[i] = rawConn(t, n.ws, 0)
		cut := 1 + i%(len(frame)-1) // somewhere inside header or payload
		if _, err := stalled[i].Write(frame[:cut]); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, n.ws)
	c.subscribe("1", "news")
	publish(t, n, "news", `{"ok":true}`)
	if f := c.next(); f.Type != "message" || string(f.Data) != `{"ok":true}` {
		t.Fatalf("normal client got %+v", f)
	}
	c.send(`{"type":"ping","id":"p"}`)
	if f := c.reply("p"); f.Type != "pong" {
		t.Fatalf("ping: %+v", f)
	}
	// A connection is counted once the node takes it over, which may trail
	// the 101 its client already read; one stalled connection closed
	// would keep the count under 201 for good.
	eventually(t, "the 200 stalled connections and the client counted open", func() bool {
		return nodeStats(t, n).Connections == 201
	})
	// Finishing a stalled frame gets it handled.
	s := stalled[7]
	cut := 1 + 7%(len(frame)-1)
	s.Write(frame[cut:])
	s.SetReadDeadline(time.Now().Add(wait))
	for {
		h, err := ws.ReadHeader(s)
		if err != nil {
			t.Fatalf("stalled client after finishing its frame: %v", err)
		}
		p := make([]byte, h.Length)
		readFull(s, p)
		if h.OpCode == ws.OpText && strings.Contains(string(p), `"pong"`) {
			break
		}
	}
}

// Random bytes, before and after the upgrade, on many connections, do not
// stop the server or disturb a normal subscriber.
func TestRandomBytesDoNotStopTheServer(t *testing.T) {
	n := startNode(t, options{})
	c := dial(t, n.ws)
	c.subscribe("1", "steady")
	rng := rand.New(rand.NewPCG(1, 2))
	junk := func() []byte {
		b := make([]byte, 1+rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		var conn net.Conn
		if i%2 == 0 {
			conn = rawConn(t, n.ws, 0)
		} else {
			var err error
			conn, err = net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(n.ws, "/ws"), "ws://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
		}
		payload := junk()
		// A socket that never finished its upgrade request is answered or
		// closed by net/http only when it sees the end of the request or
		// its header timeout, so those are given up on sooner.
		deadline := wait
		if i%2 == 1 {
			deadline = time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn.SetDeadline(time.Now().Add(deadline))
			conn.Write(payload)
			// The server answers with a close or an HTTP error and hangs up.
			buf := make([]byte, 4096)
			for {
				if _, err := conn.Read(buf); err != nil {
					return
				}
			}
		}()
		if i%10 == 0 {
			publish(t, n, "steady", fmt.Sprint(i))
		}
	}
	wg.Wait()
	for i := 0; i < 100; i += 10 {
		if f := c.next(); f.Type != "message" || string(f.Data) != fmt.Sprint(i) {
			t.Fatalf("subscriber got %+v, want message %d", f, i)
		}
	}
	fresh := dial(t, n.ws)
	fresh.send(`{"type":"ping","id":"x"}`)
	if f := fresh.reply("x"); f.Type != "pong" {
		t.Fatalf("a new client after the junk: %+v", f)
	}
}

// Ten bad commands in a row close only the client that sent them.
func TestBadCommandsCloseOnlyTheirConnection(t *testing.T) {
	n := startNode(t, options{})
	good := dial(t, n.ws)
	good.subscribe("1", "calm")
	bad := dial(t, n.ws)
	for i := 0; i < 10; i++ {
		bad.send(`{"type":"subscribe","id":"%d","topic":"bad..topic"}`, i)
	}
	if code := bad.closeCode(); code != 4003 {
		t.Fatalf("bad client closed with %d, want 4003", code)
	}
	publish(t, n, "calm", `1`)
	if f := good.next(); f.Type != "message" {
		t.Fatalf("good client: %+v", f)
	}
}

// A connection with more than 16 patterns matching one topic is closed
// with 1008 when the topic's message comes (docs/protocol.md section 6);
// one with 16 gets it, and the node's subscriptions go back to its own.
func TestTooManyMatchingPatternsCloseTheirConnection(t *testing.T) {
	n := startNode(t, options{})
	patterns := func(count int) []string {
		out := []string{">"}
		for i := 1; len(out) < count; i++ {
			toks := strings.Split("a.b.c.d.e", ".")
			for j := range toks {
				if i&(1<<j) != 0 {
					toks[j] = "*"
				}
			}
			out = append(out, strings.Join(toks, "."))
		}
		return out
	}
	atBound, over := dial(t, n.ws), dial(t, n.ws)
	for i, p := range patterns(16) {
		atBound.subscribe(fmt.Sprint(i), p)
	}
	for i, p := range patterns(17) {
		over.subscribe(fmt.Sprint(i), p)
	}
	publish(t, n, "a.b.c.d.e", `"x"`)
	if f := atBound.next(); f.Type != "message" {
		t.Fatalf("the connection at the bound got %s", f.text)
	}
	if code := over.closeCode(); code != 1008 {
		t.Fatalf("the connection over the bound closed with %d, want 1008", code)
	}
	eventually(t, "the closed connection's subscriptions end", func() bool {
		return nodeStats(t, n).Subscriptions == 16
	})
}

// A connection whose patterns follow a topic nearly to its end, none
// matching it, is closed with 1008 when the topic's message comes, as
// their match would go through more than 64 trie nodes for it at every
// message (docs/protocol.md section 6); one with a few such patterns and
// one that matches gets the message, and the node's subscriptions go
// back to its own.
func TestPatternsThatMakeAMatchLongCloseTheirConnection(t *testing.T) {
	n := startNode(t, options{})
	const topic = "a.b.c.d.e.f.g.h"
	patterns := func(count int) []string {
		var out []string
		for i := 0; len(out) < count; i++ {
			toks := strings.Split(topic, ".")
			for j := range len(toks) - 1 {
				if i&(1<<j) != 0 {
					toks[j] = "*"
				}
			}
			toks[len(toks)-1] = "zz"
			out = append(out, strings.Join(toks, "."))
		}
		return out
	}
	few, many := dial(t, n.ws), dial(t, n.ws)
	for i, p := range append(patterns(8), "a.*.>") {
		few.subscribe(fmt.Sprint(i), p)
	}
	for i, p := range patterns(100) {
		many.subscribe(fmt.Sprint(i), p)
	}
	publish(t, n, topic, `"x"`)
	if f := few.next(); f.Type != "message" {
		t.Fatalf("the connection with a few such patterns got %s", f.text)
	}
	if code := many.closeCode(); code != 1008 {
		t.Fatalf("the connection with 100 such patterns closed with %d, want 1008", code)
	}
	eventually(t, "the closed connection's subscriptions end", func() bool {
		return nodeStats(t, n).Subscriptions == 9
	})
}

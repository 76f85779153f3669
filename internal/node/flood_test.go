package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
)

// pings is n ping commands, ids 0 to n-1, framed as a client sends them,
// for one write.
func pings(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		f := ws.MaskFrameInPlace(ws.NewTextFrame(fmt.Appendf(nil, `{"type":"ping","id":"%d"}`, i)))
		if err := ws.WriteFrame(&b, f); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// answer reads the answer to ping id, past the server's own pings: true
// for a pong, false for rate_limited; anything else fails the test.
func answer(t *testing.T, c *client, id int) (ponged bool) {
	t.Helper()
	f, err := nextFrame(c)
	if err != nil || f.Header.OpCode != ws.OpText {
		t.Fatalf("answer %d: %v, opcode %v", id, err, f.Header.OpCode)
	}
	var a struct{ Type, ID, Code string }
	if err := json.Unmarshal(f.Payload, &a); err != nil || a.ID != strconv.Itoa(id) {
		t.Fatalf("answer %d: %s (%v)", id, f.Payload, err)
	}
	switch {
	case a.Type == "pong":
		return true
	case a.Type == "error" && a.Code == string(broker.CodeRateLimited):
		return false
	}
	t.Fatalf("answer %d: %s", id, f.Payload)
	return false
}

// A client that sends 300 commands at once, past the default rate of 100
// a second and its burst of 200, gets an answer to each, in order: the
// burst's run, the rest are answered rate_limited. It is neither closed
// nor held back (the transport reads bursts of 400 at once), and is served
// again once the rate allows.
func TestBurstPastTheRateIsAnsweredRateLimited(t *testing.T) {
	n, _, addr := serve(t, node.Config{})
	c, _ := dial(t, addr)
	if _, err := c.Write(pings(300)); err != nil {
		t.Fatal(err)
	}
	ponged := 0
	for id := range 300 {
		if answer(t, c, id) {
			ponged++
		}
	}
	if ponged < 2*broker.DefaultRateLimit || ponged == 300 {
		t.Fatalf("%d of 300 commands ran, want the burst of %d and rate_limited for most of the rest", ponged, 2*broker.DefaultRateLimit)
	}
	if th := n.Transport.Stats().Throttled; th != 0 {
		t.Fatalf("a burst within the read pace was throttled (%d)", th)
	}
	time.Sleep(100 * time.Millisecond) // the rate gives 10 commands back
	if _, err := c.Write(pings(1)); err != nil {
		t.Fatal(err)
	}
	if !answer(t, c, 0) {
		t.Fatal("a command once the rate allowed it was answered rate_limited")
	}
}

// A client that keeps sending commands far past its rate is read at twice
// the rate, in bursts of twice its burst, the node's own (Broker.RateLimit
// reaches the transport): what it sends past that waits in its socket, so
// it is answered that many commands at most. It is counted throttled and
// not closed.
func TestCommandFloodIsReadAtItsPace(t *testing.T) {
	const rate = 1000 // read 2,000 a second, bursts of 4,000
	n, _, addr := serve(t, node.Config{Broker: broker.Config{RateLimit: rate}})
	c, _ := dial(t, addr)
	flood := pings(20_000)
	start := time.Now()
	wrote := make(chan error, 1)
	go func() { _, err := c.Write(flood); wrote <- err }() // blocks while the pace holds it
	for id := range 4*rate + rate {
		answer(t, c, id)
		if bound := 4*rate + 2*rate*time.Since(start).Seconds() + 1; float64(id+1) > bound {
			t.Fatalf("%d commands answered, over the pace's %.0f", id+1, bound)
		}
	}
	if th := n.Transport.Stats().Throttled; th != 1 {
		t.Fatalf("Stats.Throttled = %d, want 1", th)
	}
	c.Close()
	<-wrote
}

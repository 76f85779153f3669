package bench

import (
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// sseNode is a real Herald node whose heartbeat comes every 100 ms, so an
// idle stream is seen alive quickly.
func sseNode(t *testing.T) string {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{NodeID: "bench-sse", Heartbeat: 100 * time.Millisecond}})
	return "ws://" + n.Addr + "/ws"
}

func TestSSEFanoutDeliversEveryMessage(t *testing.T) {
	r := runScenario(t, "fanout", "--server", "herald-sse", "--url", sseNode(t),
		"--conns", "30", "--topics", "3", "--publishers", "2", "--duration", "400ms", "--conns-per-worker", "10")
	if r.Server != ServerHeraldSSE || r.Connected != 30 {
		t.Fatalf("server %q, %d connected (%v)", r.Server, r.Connected, r.ErrorKinds)
	}
	if r.Published == 0 || r.Delivered != r.Expected || r.Completeness != 1 {
		t.Errorf("published %d, delivered %d of %d (completeness %v)", r.Published, r.Delivered, r.Expected, r.Completeness)
	}
	if r.Gaps != 0 || r.Dups != 0 || r.ClosedByServer != 0 {
		t.Errorf("gaps %d, dups %d, closed %d", r.Gaps, r.Dups, r.ClosedByServer)
	}
}

func TestSSEIdleChecksEveryStream(t *testing.T) {
	r := runScenario(t, "idle", "--server", "herald-sse", "--url", sseNode(t), "--conns", "20", "--hold", "300ms")
	if r.Connected != 20 || r.Alive != 20 {
		t.Errorf("connected %d, alive %d; want 20, 20 (%v)", r.Connected, r.Alive, r.ErrorKinds)
	}
}

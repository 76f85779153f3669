package hooks_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// newBenchBackend is a backend for benchmarks: answer writes each reply.
func newBenchBackend(b *testing.B, answer func(w http.ResponseWriter)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		answer(w)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

func startBenchNode(b *testing.B, h node.Hooks) *nodetest.Node {
	return nodetest.Start(b, nodetest.Options{Node: node.Config{
		NodeID: "bench", Hooks: h, Broker: broker.Config{RateLimit: -1},
	}})
}

// benchDial opens a WebSocket and reads its welcome.
func benchDial(n *nodetest.Node) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, n.WS)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	if _, err := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{r, conn}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func waitDelivered(b *testing.B, c *hooks.Client, n float64) {
	deadline := time.Now().Add(time.Minute)
	for counter(b, c, "herald_webhook_events_delivered_total") < n {
		if time.Now().After(deadline) {
			b.Fatalf("%v events not delivered in a minute", n)
		}
		time.Sleep(time.Millisecond)
	}
}

package api_test

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// BenchmarkSocketReceiveBuffer is what the node's SO_RCVBUF
// (HERALD_SOCKET_RECEIVE_BUFFER_BYTES) costs the largest publishes over
// loopback, against the kernel's autotuning (0): a POST /api/batch of
// 1 MiB (16 messages of 64,000 bytes) on a keep-alive connection, and a
// WebSocket publisher that keeps 8 publishes of the largest data
// (64 KiB) in flight, the node's command rate off.
func BenchmarkSocketReceiveBuffer(b *testing.B) {
	for _, receive := range []int{0, 64 << 10, transport.DefaultReceiveBufferBytes, 256 << 10} {
		b.Run("receive="+strconv.Itoa(receive), func(b *testing.B) {
			n := startReceiveBenchNode(b, receive)
			b.Run("batch1MiB", func(b *testing.B) {
				benchPost(b, n.Addr, "/api/batch", largeBatchBody(16, 64_000))
			})
			b.Run("ws-max-publish", func(b *testing.B) {
				benchWebSocketPublish(b, n.WS, strings.Repeat("a", broker.DefaultMaxMessageBytes-2), 8)
			})
		})
	}
}

func startReceiveBenchNode(b *testing.B, receive int) *nodetest.Node {
	nop := zap.NewNop()
	nc := heraldnode.Config{NodeID: "bench", Broker: broker.Config{RateLimit: -1, Logger: nop}}
	nc.Transport.Logger = nop
	nc.Transport.SendBufferBytes = transport.DefaultSendBufferBytes
	nc.Transport.ReceiveBufferBytes = receive
	nc.API = api.Config{APIKeys: []string{benchKey}, Logger: nop}
	return nodetest.Start(b, nodetest.Options{Engine: memoryBenchEngine(b, 0), Node: nc})
}

// largeBatchBody is a batch of n messages to n topics, each with a JSON
// string of size bytes as its data.
func largeBatchBody(n, size int) string {
	data := `"` + strings.Repeat("a", size-2) + `"`
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = `{"topic":"bench.large.` + strconv.Itoa(i) + `","data":` + data + `}`
	}
	return `{"messages":[` + strings.Join(msgs, ",") + `]}`
}

// benchWebSocketPublish publishes data (a JSON string's content) b.N
// times over one WebSocket, keeping inFlight publishes unanswered, and
// reads every answer.
func benchWebSocketPublish(b *testing.B, url, data string, inFlight int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP{"Authorization": {"Bearer " + benchKey}}}.Dial(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	r := bufio.NewReaderSize(conn, 64<<10)
	if br != nil {
		r = br
	}
	if _, err := wsutil.ReadServerText(rw{r, conn}); err != nil { // the welcome
		b.Fatal(err)
	}
	msg := []byte(`{"type":"publish","id":"p","topic":"bench.ws","data":"` + data + `"}`)
	frame := ws.NewTextFrame(msg)
	frame.Header.Masked = true // the zero mask: the payload goes as it is
	var out []byte
	{
		w := &byteSink{}
		if err := ws.WriteFrame(w, frame); err != nil {
			b.Fatal(err)
		}
		out = w.b
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	sent, read := 0, 0
	for read < b.N {
		for sent < b.N && sent-read < inFlight {
			if _, err := conn.Write(out); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, err := wsutil.ReadServerText(rw{r, conn})
		if err != nil {
			b.Fatal(err)
		}
		if !strings.Contains(string(reply), `"published"`) {
			b.Fatalf("answer %s", reply)
		}
		read++
	}
}

// rw reads through r and writes to conn, for wsutil's control frames.
type rw struct {
	r *bufio.Reader
	net.Conn
}

func (x rw) Read(p []byte) (int, error) { return x.r.Read(p) }

type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }

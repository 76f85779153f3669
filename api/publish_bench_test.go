package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
	"go.uber.org/zap"
)

// benchKey is the API key the publish benchmarks send, so that the key
// check is part of what they measure, as it is in a deployment.
const benchKey = "bench-key-0123456789abcdef"

// benchData is a small JSON message, the size of a typical notification.
const benchData = `{"user":"u-1234","text":"a short line of chat, as most messages are","n":1}`

// BenchmarkPublishHTTP publishes over a real keep-alive loopback
// connection to a whole node with no subscriber: one message per POST
// /api/publish, and ten per POST /api/batch, with history on and off, on
// the memory engine and on Redis. The client reads replies without
// allocating, so allocs/op are the server's (and the engine's client
// library's, for Redis).
func BenchmarkPublishHTTP(b *testing.B) {
	engines := []struct {
		name  string
		start func(b *testing.B, history int) broker.Engine
	}{
		{"memory", memoryBenchEngine},
		{"redis", redisBenchEngine},
	}
	for _, e := range engines {
		for _, history := range []int{100, 0} {
			name := e.name + "/history=" + strconv.Itoa(history)
			b.Run(name, func(b *testing.B) {
				base := startBenchNode(b, e.start(b, history))
				b.Run("publish", func(b *testing.B) {
					benchPost(b, base, "/api/publish", `{"topic":"bench.one","data":`+benchData+`}`)
				})
				b.Run("batch10", func(b *testing.B) {
					benchPost(b, base, "/api/batch", batchBody("bench.batch", 10))
				})
				b.Run("publish-parallel", func(b *testing.B) { // a connection per goroutine, one topic
					benchPostParallel(b, base, "/api/publish", `{"topic":"bench.one","data":`+benchData+`}`)
				})
			})
		}
	}
}

func memoryBenchEngine(b *testing.B, history int) broker.Engine {
	return memory.New(memory.Config{HistorySize: history, HistoryTTL: broker.DefaultHistoryTTL})
}

func redisBenchEngine(b *testing.B, history int) broker.Engine {
	srv := redistest.Start(b)
	e, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), HistorySize: history, Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return e // the node closes it
}

// startBenchNode serves a node over eng with nothing logged, so that log
// lines cost nothing, and returns its address.
func startBenchNode(b *testing.B, eng broker.Engine) string {
	nop := zap.NewNop()
	nc := heraldnode.Config{NodeID: "bench"}
	nc.Broker.Logger, nc.Transport.Logger = nop, nop
	nc.API = api.Config{APIKeys: []string{benchKey}, Logger: nop}
	return nodetest.Start(b, nodetest.Options{Engine: eng, Node: nc}).Addr
}

func batchBody(topic string, n int) string {
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"topic":"%s.%d","data":%s}`, topic, i, benchData)
	}
	return `{"messages":[` + strings.Join(msgs, ",") + `]}`
}

// benchPost sends body to path b.N times on one connection and checks
// that each answer is 200.
func benchPost(b *testing.B, addr, path, body string) {
	c := dialBench(b, addr)
	req := postRequest(addr, path, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := c.conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := c.readOK(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPostParallel is benchPost from 2*GOMAXPROCS connections at once.
func benchPostParallel(b *testing.B, addr, path, body string) {
	req := postRequest(addr, path, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		c := dialBench(b, addr)
		for pb.Next() {
			if _, err := c.conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := c.readOK(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// postRequest is a whole POST request with body and the API key.
func postRequest(addr, path, body string) []byte {
	return []byte("POST " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nAuthorization: Bearer " + benchKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\n\r\n" + body)
}

// benchConn is a keep-alive HTTP/1.1 connection whose replies are read
// without allocating.
type benchConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialBench(b *testing.B, addr string) *benchConn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &benchConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

var (
	statusOK      = []byte("HTTP/1.1 200 ")
	contentLength = []byte("content-length:")
)

// readOK reads one reply and its body, and fails unless it is a 200.
func (c *benchConn) readOK() error {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, statusOK) {
		return fmt.Errorf("status line %q", line)
	}
	n := -1
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("a reply without Content-Length")
	}
	_, err = c.r.Discard(n)
	return err
}

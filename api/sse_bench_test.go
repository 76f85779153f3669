package api_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// rawStream is an SSE client over a bare socket, as light as a client can
// be, so that what a test measures is the server's.
type rawStream struct {
	c net.Conn
	r *bufio.Reader
}

// dialStream requests path on addr and reads up to the end of the
// subscribed event.
func dialStream(tb testing.TB, addr, path string) *rawStream {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: herald\r\n\r\n"); err != nil {
		tb.Fatal(err)
	}
	s := &rawStream{c: c, r: bufio.NewReaderSize(c, 4096)}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			tb.Fatalf("stream head: %v", err)
		}
		if line == "event: subscribed\n" {
			break
		}
	}
	for {
		if line, err := s.r.ReadString('\n'); err != nil || line == "\n" {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
	return s
}

// TestIdleStreamsKeepNoHTTPState: an idle SSE stream keeps nothing of its
// request, as an idle WebSocket does not (idle_memory_test.go). Client
// and server share this process, so the bound covers both ends.
func TestIdleStreamsKeepNoHTTPState(t *testing.T) {
	n := sseNode(t, api.Config{}, nil, 0, 0)
	const streams = 300
	before := liveHeap()
	for range streams {
		s := dialStream(t, n.Addr, "/sse?topic=idle")
		t.Cleanup(func() { s.c.Close() })
	}
	perStream := (liveHeap() - before) / streams
	t.Logf("%d bytes of heap per idle stream, both ends", perStream)
	if perStream > 8<<10 {
		t.Fatalf("%d bytes of heap per idle stream, want under 8 KiB", perStream)
	}
}

// BenchmarkSSEIdle opens idle SSE streams and reports the server's heap
// per stream (heap-bytes/stream, the client's bufio readers excluded) and
// the process's RSS per stream (rss-bytes/stream, both ends and the
// kernel's share that the process is charged; 0 where /proc is missing).
// Run it with -benchtime=1x: each round opens 2,000 streams.
func BenchmarkSSEIdle(b *testing.B) {
	const streams = 2000
	n := sseNode(b, api.Config{}, nil, 0, 0)
	b.ReportAllocs()
	var heap, rss float64
	for b.Loop() {
		heapBefore, rssBefore := liveHeap(), residentBytes()
		conns := make([]*rawStream, streams)
		for i := range conns {
			conns[i] = dialStream(b, n.Addr, "/sse?topic=idle")
		}
		readers := int64(streams * 4096) // the clients' bufio buffers
		heap = float64(liveHeap()-heapBefore-readers) / streams
		rss = float64(residentBytes()-rssBefore) / streams
		for _, s := range conns {
			s.c.Close()
		}
	}
	b.ReportMetric(heap, "heap-bytes/stream")
	b.ReportMetric(rss, "rss-bytes/stream")
}

// BenchmarkSSEFanout publishes to one topic that many SSE streams read,
// and reports the deliveries per second once every stream got every
// message (completeness is checked, not assumed).
func BenchmarkSSEFanout(b *testing.B) {
	for _, streams := range []int{100, 1000} {
		b.Run(strconv.Itoa(streams), func(b *testing.B) { benchFanout(b, streams) })
	}
}

func benchFanout(b *testing.B, streams int) {
	n := sseNode(b, api.Config{}, nil, 0, 0)
	conns := make([]*rawStream, streams)
	for i := range conns {
		conns[i] = dialStream(b, n.Addr, "/sse?topic=fan")
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	for _, s := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := s.r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte(`data: {"type":"message"`)) {
					got.Add(1)
				}
			}
		}()
	}
	defer func() {
		for _, s := range conns {
			s.c.Close()
		}
		wg.Wait()
	}()
	data := []byte(`{"text":"` + strings.Repeat("x", 100) + `"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := n.Broker.Publish(ctx, "fan", data, ""); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * int64(streams)
	deadline := time.Now().Add(time.Minute)
	for got.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
}

// residentBytes is the process's resident memory from /proc/self/statm,
// 0 where there is none.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

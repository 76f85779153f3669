//go:build linux

package transport

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/transport/internal/netpoll"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// fanoutConns and fanoutSockets shape BenchmarkFanoutToConns: 10,000
// connections, as in the 10,000-subscriber scenario of BENCHMARKS.md,
// over fewer sockets. Both ends of 10,000 sockets would take 20,000
// descriptors, the hard limit here, so each connection writes to a
// descriptor of its own that duplicates one of 1,000 sockets: the loop,
// its epoll registrations and its writev calls are a connection's each,
// and 10 connections share a socket's buffer.
const (
	fanoutConns   = 10_000
	fanoutSockets = 1_000
)

type nopReceiver struct{}

func (nopReceiver) HandleText([]byte) {}
func (nopReceiver) AllowPing() bool   { return true }
func (nopReceiver) Disconnected()     {}

type nopAcceptor struct{}

func (nopAcceptor) Open(broker.Conn, broker.ClientInfo) Receiver { return nopReceiver{} }

// BenchmarkFanoutToConns queues one frame on each of 10,000 connections
// of two epoll loops as the broker's fan-out does (SendDeferred into one
// batch, then its Flush) and waits until the loops have written them all.
// fanout-ns/op is the fan-out's own part, what a publishing goroutine
// pays; the rest is the loops' writes.
func BenchmarkFanoutToConns(b *testing.B) {
	srv, err := New(Config{Loops: 2, Logger: zap.NewNop(), Heartbeat: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	conns, peers := fanoutFixture(b, srv)
	frame := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 100)))
	sink := make([]byte, 64<<10)
	var fanout time.Duration
	var batch broker.Batch
	want, got := 0, 0
	fanOut := func() {
		for _, c := range conns {
			if !c.SendDeferred(frame, &batch) {
				b.Fatal("a connection refused the frame")
			}
		}
		batch.Flush()
	}
	// A connection's first frame allocates its write queue: once, before
	// the count, so that allocs/op is the steady state.
	fanOut()
	want += len(conns) * len(frame)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		fanOut()
		fanout += time.Since(start)
		want += len(conns) * len(frame)
		waitWritten(srv)
		b.StopTimer()
		got += drainPeers(b, peers, sink)
		b.StartTimer()
	}
	b.StopTimer()
	for deadline := time.Now().Add(10 * time.Second); got < want && time.Now().Before(deadline); {
		got += drainPeers(b, peers, sink)
		time.Sleep(time.Millisecond)
	}
	if got < want { // more: the loops' probe pings (probe_linux.go)
		b.Fatalf("the peers read %d bytes, want %d", got, want)
	}
	b.ReportMetric(float64(fanout.Nanoseconds())/float64(b.N), "fanout-ns/op")
}

// fanoutFixture opens fanoutConns connections on srv's loops and returns
// them with the read ends of their sockets; cleanup closes everything.
func fanoutFixture(b *testing.B, srv *Server) ([]*conn, []int) {
	peers := make([]int, 0, fanoutSockets)
	b.Cleanup(func() {
		for _, fd := range peers {
			unix.Close(fd)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	conns := make([]*conn, 0, fanoutConns)
	for range fanoutSockets {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		peers = append(peers, fds[1])
		for i := range fanoutConns / fanoutSockets {
			fd := fds[0]
			if i > 0 {
				if fd, err = unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD_CLOEXEC, 0); err != nil {
					b.Fatal(err)
				}
			}
			l := srv.loops[len(conns)%len(srv.loops)] // load counts registered ones only
			if !l.reserve() {
				b.Fatal("loop stopped")
			}
			c := newConn(l, srv.lim)
			c.fd = int32(fd)
			srv.opened(c, opening{acceptor: nopAcceptor{}})
			l.add(c, nil)
			conns = append(conns, c)
		}
	}
	for _, l := range srv.loops {
		for l.load.Load() < fanoutConns/int32(len(srv.loops)) {
			time.Sleep(time.Millisecond)
		}
	}
	return conns, peers
}

// waitWritten returns once every loop's pending list is empty and no pass
// over it runs: what the fan-out queued is written, or waits for room in
// its socket.
func waitWritten(srv *Server) {
	for _, l := range srv.loops {
		for {
			l.mu.Lock()
			idle := len(l.pending) == 0 && l.lag.pass.Load() == 0
			l.mu.Unlock()
			if idle {
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// drainPeers reads what each peer has and returns the byte count.
func drainPeers(b *testing.B, peers []int, sink []byte) int {
	total := 0
	for _, fd := range peers {
		for {
			n, err := unix.Read(fd, sink)
			if n > 0 {
				total += n
				continue
			}
			if err != nil && err != unix.EAGAIN && err != unix.EINTR {
				b.Fatal(err)
			}
			if err != unix.EINTR {
				break
			}
		}
	}
	return total
}

// BenchmarkFanoutQueue is the fan-out's own part of BenchmarkFanoutToConns
// without the loops' goroutines and sockets: one frame queued on each of
// 10,000 connections of two loops and handed to the loops, then taken off
// their pending lists and marked written as a pass over them would. It
// must not allocate.
func BenchmarkFanoutQueue(b *testing.B) {
	loops := make([]*loop, 2)
	for i := range loops {
		p, err := netpoll.New(4)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		loops[i] = &loop{poller: p}
	}
	lim := &limits{maxText: 1 << 20, maxQueue: 1 << 20, closeTimeout: 1, heartbeat: 1}
	conns := make([]*conn, fanoutConns)
	for i := range conns {
		conns[i] = newConn(loops[i%len(loops)], lim)
	}
	frame := ws.MustCompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 100)))
	var batch broker.Batch
	op := func() {
		for _, c := range conns {
			if !c.SendDeferred(frame, &batch) {
				b.Fatal("a connection refused the frame")
			}
		}
		batch.Flush()
		for _, l := range loops {
			l.mu.Lock()
			pending := l.pending
			l.pending = l.spare[:0]
			l.lag.pending.Store(0)
			l.mu.Unlock()
			for _, c := range pending {
				c.written(len(frame))
			}
			l.spare = pending
			l.poller.Wait(nil, 0) // takes the wake-up
		}
	}
	op() // the queues' first allocation
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fanoutConns), "ns/delivery")
}

//go:build linux

package api_test

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// BenchmarkStreamResumesOfOneAddress is the attack on a node on Redis
// whose streams' resumes were held outside the address's bound: topics
// big.t1 to big.t32 of 100 messages of 30 KB, the id of a stream of the
// 32 taken, 100 more published to each, then one address opens
// HERALD_MAX_CONNECTIONS_PER_IP (1,000) streams of the 32 with that
// Last-Event-ID at once and reads nothing. It reports the node's peak
// heap in use (sampled every 5 ms; the clients are bare sockets) and
// what it was before the opens and after them (collected: what the open
// streams hold), the
// CPU Redis spent (INFO cpu), and how the opens were answered within
// 10 s. The address's limits are the defaults but for the connection
// rate, which would refuse half of them before they reach a stream.
//
//	go test -run XXX -bench BenchmarkStreamResumesOfOneAddress -benchtime 1x ./api/
func BenchmarkStreamResumesOfOneAddress(b *testing.B) {
	const (
		topics  = 32
		streams = 1000
		size    = 30_000
	)
	srv := redistest.Start(b)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { admin.Close() })
	e, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), HistorySize: 100, Timeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	conns, err := limits.NewConnLimiter(limits.ConnConfig{MaxOpen: streams, Rate: 1e6, Burst: 1e6,
		CommandRate: 2000, CommandBurst: 10000, QueueBytes: 64 << 20, Subscriptions: 50000})
	if err != nil {
		b.Fatal(err)
	}
	nc := heraldnode.Config{NodeID: "bench-node", API: api.Config{Conns: conns}}
	nc.Transport.SendBufferBytes = 256 << 10
	n := nodetest.Start(b, nodetest.Options{Engine: e, Node: nc})

	var names []string
	for i := 1; i <= topics; i++ {
		names = append(names, "topic=big.t"+strconv.Itoa(i))
	}
	path := "/sse?" + strings.Join(names, "&")
	data := []byte(`"` + strings.Repeat("h", size) + `"`)
	publishAll := func() {
		for i := 1; i <= topics; i++ {
			for range 100 {
				if _, err := n.Broker.Publish(context.Background(), "big.t"+strconv.Itoa(i), data, ""); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	publishAll()
	addr := netip.MustParseAddrPort(n.Addr)
	id := rawStreamID(b, addr, path)
	publishAll()

	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		b.ReportMetric(float64(base.HeapInuse)/1e6, "heap-before-MB")
		cpuBefore := redisCPU(b, admin)
		var peak atomic.Uint64
		done := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		var opened, refused, unanswered atomic.Int64
		fds := make([]int, streams)
		var wg sync.WaitGroup
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fd, answer, err := openResumingTB(b, addr, path, id)
				fds[i] = fd
				switch {
				case err != nil:
					unanswered.Add(1)
				case strings.HasPrefix(answer, "HTTP/1.1 200"):
					opened.Add(1)
				default:
					refused.Add(1)
				}
			}()
		}
		wg.Wait()
		close(done)
		sampler.Wait()
		runtime.GC() // what the open streams hold, without the garbage of the reads
		var live runtime.MemStats
		runtime.ReadMemStats(&live)
		b.ReportMetric(float64(live.HeapInuse)/1e6, "heap-held-MB")
		b.ReportMetric(float64(peak.Load())/1e6, "peak-heap-MB")
		b.ReportMetric(redisCPU(b, admin)-cpuBefore, "redis-cpu-s")
		b.ReportMetric(float64(opened.Load()), "opened")
		b.ReportMetric(float64(refused.Load()), "refused")
		b.ReportMetric(float64(unanswered.Load()), "unanswered")
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}
}

// rawStreamID opens a stream of path from 127.0.0.2 and returns the id
// of its first event.
func rawStreamID(tb testing.TB, addr netip.AddrPort, path string) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}}); err != nil {
		tb.Fatal(err)
	}
	if err := rawConnect(fd, addr); err != nil {
		tb.Fatal(err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr.String() + "\r\n\r\n"
	if _, err := unix.Write(fd, []byte(req)); err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	got := 0
	for {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			tb.Fatalf("read: %v; got %q", err, buf[:got])
		}
		got += n
		text := string(buf[:got])
		if i := strings.Index(text, "\nid: "); i >= 0 {
			if j := strings.IndexByte(text[i+5:], '\n'); j >= 0 {
				return text[i+5 : i+5+j]
			}
		}
	}
}

// redisCPU is the CPU time the Redis of admin has used, in seconds.
func redisCPU(tb testing.TB, admin *goredis.Client) float64 {
	tb.Helper()
	info, err := admin.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	total := 0.0
	for _, line := range strings.Split(info, "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			v, _ := strconv.ParseFloat(value, 64)
			total += v
		}
	}
	return total
}

package bench

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// ssOutput is "ss -tinpH state established dst 127.0.0.1:6379" with two
// sockets of pid 100, one of 200 (another process on the same socket
// first) and one of a process not asked about.
const ssOutput = `0      0      127.0.0.1:57174 127.0.0.1:6379 users:(("herald",pid=100,fd=3))
	 bbr wscale:10,10 rto:204 bytes_sent:26 bytes_acked:27 bytes_received:65 segs_out:5
0      0      127.0.0.1:57175 127.0.0.1:6379 users:(("herald",pid=100,fd=4))
	 cubic wscale:7,7 rto:204 bytes_sent:10 bytes_acked:11 bytes_received:1000
0      0      127.0.0.1:57176 127.0.0.1:6379 users:(("sh",pid=7,fd=5),("herald",pid=200,fd=5))
	 cubic rto:204 bytes_sent:10 bytes_acked:11 bytes_received:12345678901 segs_out:9
0      0      127.0.0.1:57177 127.0.0.1:6379 users:(("redis-cli",pid=300,fd=3))
	 cubic rto:204 bytes_received:999
0      0      127.0.0.1:57178 127.0.0.1:6379 users:(("herald",pid=200,fd=6))
	 cubic rto:204 bytes_sent:10
`

func TestParseSocketBytes(t *testing.T) {
	got := parseSocketBytes([]byte(ssOutput), []int{100, 200, 400})
	want := map[int]int64{100: 1065, 200: 12345678901, 400: 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for pid, n := range want {
		if got[pid] != n {
			t.Errorf("pid %d: %d bytes, want %d", pid, got[pid], n)
		}
	}
}

// redisBytesIn counts what this process's connections to a listener read,
// and not what the listener's side of them read.
func TestRedisBytesInCountsThisProcess(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after the listener and the connections are closed
	defer l.Close()
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				c.Write([]byte(strings.Repeat("x", 1000)))
				io.Copy(io.Discard, c) // until the client closes
				c.Close()
			})
		}
	})
	for range 2 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello"))
		if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	pid := os.Getpid()
	got, err := redisBytesIn(context.Background(), l.Addr().String(), []int{pid})
	if err != nil {
		t.Fatal(err)
	}
	if got[pid] != 2000 {
		t.Fatalf("pid %d read %d bytes from %s, want 2000 (%v)", pid, got[pid], l.Addr(), got)
	}
}

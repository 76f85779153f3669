//go:build soak

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/herald-broker/herald/internal/redistest"
)

// The soak runs the attacks of the hardening tests at a heavier scale, all
// at once, against real herald processes (two nodes on one Redis), for
// HERALD_SOAK (default 3m), then prints what each node holds: RSS,
// goroutines, open files and CPU. It is `make soak`, not part of make test.
// Every loop is bounded by the soak's context and targets loopback only.

func soakDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("HERALD_SOAK")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Minute
}

func TestSoak(t *testing.T) {
	redis := redistest.Start(t)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_LOG_LEVEL=warn",
		"HERALD_MAX_CONNECTIONS_PER_IP=0", "HERALD_CONNECT_RATE_PER_IP=0", "HERALD_COMMAND_RATE_PER_IP=0"}
	a := startProcess(t, "soak-a", env...)
	b := startProcess(t, "soak-b", env...)
	ctx, cancel := context.WithTimeout(context.Background(), soakDuration())
	defer cancel()

	attacks := map[string]func(context.Context, *testing.T){
		"ping flood":           func(ctx context.Context, t *testing.T) { pingFlood(ctx, t, a.ws, 20) },
		"overlapping patterns": func(ctx context.Context, t *testing.T) { holdPatterns(ctx, t, a.ws, 12, overlapping) },
		"deep patterns":        func(ctx context.Context, t *testing.T) { holdPatterns(ctx, t, b.ws, 20, deep) },
		"publishes":            func(ctx context.Context, t *testing.T) { publishLoop(ctx, t, &b.node) },
		"many topics":          func(ctx context.Context, t *testing.T) { manyTopics(ctx, t, &a.node) },
		"half upgrades":        func(ctx context.Context, t *testing.T) { halfUpgrades(ctx, t, a.base, 2000) },
		"open fragments":       func(ctx context.Context, t *testing.T) { openFragments(ctx, t, b.ws, 200) },
	}
	var wg sync.WaitGroup
	for name, attack := range attacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attack(ctx, t)
			t.Logf("%s: done", name)
		}()
	}
	wg.Wait()
	for _, p := range []*process{a, b} {
		t.Logf("%s after %v: %s", p.base, soakDuration(), scrapeProcess(t, p.base))
		if status(t, p.base+"/readyz") != 200 {
			t.Errorf("%s is not ready after the soak", p.base)
		}
	}
}

// overlapping returns the patterns of connection i: a thousand patterns
// that all match "o.1.2.3.4.5.6.7.8.9.10.11.12.13".
func overlapping(i int) []string {
	tokens := strings.Split("o.1.2.3.4.5.6.7.8.9.10.11.12.13", ".")
	out := make([]string, 0, 1000)
	for n := 0; len(out) < 1000; n++ {
		p := append([]string(nil), tokens...)
		for bit := 0; bit < len(p); bit++ {
			if n&(1<<bit) != 0 {
				p[bit] = "*"
			}
		}
		out = append(out, strings.Join(p, "."))
	}
	return out
}

// deep returns a thousand distinct 255-byte patterns for connection i.
func deep(i int) []string {
	out := make([]string, 1000)
	for n := range out {
		head := fmt.Sprintf("d%d-%d.*", i, n)
		p := head + strings.Repeat(".a", (255-len(head))/2)
		out[n] = p[:min(len(p), 255)]
	}
	return out
}

// holdPatterns opens conns connections, subscribes each to its patterns
// at the rate limit, and holds them until ctx ends.
func holdPatterns(ctx context.Context, t *testing.T, url string, conns int, patterns func(int) []string) {
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := soakDial(ctx, url)
			if err != nil {
				t.Logf("dial: %v", err)
				return
			}
			defer c.Close()
			go drain(c)
			for n, p := range patterns(i) {
				if ctx.Err() != nil {
					return
				}
				fmt.Fprintf(c, "%s", maskedText(fmt.Sprintf(`{"type":"subscribe","id":"%d","topic":%q}`, n, p)))
				time.Sleep(12 * time.Millisecond) // under the default 100 commands/s
			}
			<-ctx.Done()
		}()
	}
	wg.Wait()
}

// pingFlood has conns connections send 125-byte pings as fast as they can
// and never read.
func pingFlood(ctx context.Context, t *testing.T, url string, conns int) {
	frame := ws.MustCompileFrame(ws.MaskFrame(ws.NewPingFrame([]byte(strings.Repeat("p", 125)))))
	keepOpen(ctx, wsDialer(url), conns, func(c net.Conn) {
		for ctx.Err() == nil {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(frame); err != nil {
				return // closed by the server: open another
			}
		}
	})
}

// keepOpen keeps conns connections from dial open until ctx ends, each
// given to use until it returns, then closed and replaced.
func keepOpen(ctx context.Context, dial func(context.Context) (net.Conn, error), conns int, use func(net.Conn)) {
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dial(ctx)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				use(c)
				stop()
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// publishLoop publishes to the topic the overlapping patterns match and to
// an unrelated one, over HTTP, until ctx ends.
func publishLoop(ctx context.Context, t *testing.T, n *node) {
	var sent int
	for ctx.Err() == nil {
		for _, topic := range []string{"o.1.2.3.4.5.6.7.8.9.10.11.12.13", "unrelated"} {
			if postQuiet(ctx, n, topic, `{"n":1}`) {
				sent++
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("publishes accepted: %d", sent)
}

// manyTopics publishes 1 KiB to a new topic each time until ctx ends.
func manyTopics(ctx context.Context, t *testing.T, n *node) {
	data := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	var i int
	for ; ctx.Err() == nil; i++ {
		postQuiet(ctx, n, "many."+strconv.Itoa(i), data)
	}
	t.Logf("topics published to: %d", i)
}

func postQuiet(ctx context.Context, n *node, topic, data string) bool {
	body := fmt.Sprintf(`{"topic":%q,"data":%s}`, topic, data)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+"/api/publish", strings.NewReader(body))
	if err != nil {
		return false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// halfUpgrades keeps up to conns connections that send half an upgrade
// request and stall, reopening those the server closes.
func halfUpgrades(ctx context.Context, t *testing.T, base string, conns int) {
	addr := strings.TrimPrefix(base, "http://")
	tcp := func(ctx context.Context) (net.Conn, error) { return (&net.Dialer{}).DialContext(ctx, "tcp", addr) }
	keepOpen(ctx, tcp, conns, func(c net.Conn) {
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
		c.Read(make([]byte, 1)) // until the server gives up on it
	})
}

// openFragments keeps conns connections that start a fragmented message
// and never finish it.
func openFragments(ctx context.Context, t *testing.T, url string, conns int) {
	first := ws.MustCompileFrame(ws.MaskFrame(ws.NewFrame(ws.OpText, false, []byte(strings.Repeat("f", 60<<10)))))
	keepOpen(ctx, wsDialer(url), conns, func(c net.Conn) {
		c.Write(first)
		drain(c) // until the server closes it
	})
}

func soakDial(ctx context.Context, url string) (net.Conn, error) {
	d := ws.Dialer{Timeout: 5 * time.Second}
	c, _, _, err := d.Dial(ctx, url)
	return c, err
}

// wsDialer dials url with soakDial.
func wsDialer(url string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) { return soakDial(ctx, url) }
}

func drain(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// scrapeProcess reads a node's process figures from its /metrics.
func scrapeProcess(t *testing.T, base string) string {
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		return "metrics: " + err.Error()
	}
	defer resp.Body.Close()
	want := map[string]string{
		"process_resident_memory_bytes": "rss", "go_goroutines": "goroutines",
		"process_open_fds": "fds", "process_cpu_seconds_total": "cpu_s",
		"herald_connections": "connections", "herald_gaps_total": "gaps",
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if label, found := want[name]; ok && found {
			out = append(out, label+"="+value)
		}
	}
	return strings.Join(out, " ")
}

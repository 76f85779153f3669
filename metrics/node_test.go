package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// wait bounds every network step of a test; it only turns a hang into a
// failure.
const wait = 10 * time.Second

// node is a whole node over eng, built as cmd/herald builds it, on a
// loopback port: /ws and /metrics are the node's own.
type node struct {
	b   *broker.Broker
	url string // http://host:port
}

func startNode(t *testing.T, eng broker.Engine) *node {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Engine: eng, Node: heraldnode.Config{
		NodeID:    "n1",
		Transport: transport.Config{Loops: 1},
	}})
	return &node{b: n.Broker, url: n.Base}
}

// scrape fetches /metrics and parses it as Prometheus does.
func (n *node) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	c := http.Client{Timeout: wait}
	resp, err := c.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly labels
// (name=value pairs); a histogram gives its count. A missing series fails.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := strings.Join(labels, ",")
	for _, m := range f.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != want {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s{%s}", name, want)
	return 0
}

// wantValues checks several series of one scrape.
func wantValues(t *testing.T, fams map[string]*dto.MetricFamily, want map[string]float64) {
	t.Helper()
	for series, w := range want {
		name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		var ls []string
		if labels != "" {
			ls = strings.Split(labels, ",")
		}
		if got := value(t, fams, name, ls...); got != w {
			t.Errorf("%s = %v, want %v", series, got, w)
		}
	}
}

// wsClient is a plain WebSocket client that reads only when told.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader
}

func dial(t *testing.T, httpURL string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(httpURL, "http")+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil { // frames sent with the handshake reply
		c.r = io.MultiReader(br, conn)
	}
	c.expect(`"type":"welcome"`)
	return c
}

func (c *wsClient) send(format string, args ...any) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, fmt.Appendf(nil, format, args...)); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads the next text message and checks it contains part.
func (c *wsClient) expect(part string) {
	c.t.Helper()
	rw := struct {
		io.Reader
		io.Writer
	}{c.r, c.conn} // the writer answers pings
	got, err := wsutil.ReadServerText(rw)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", part, err)
	}
	if !strings.Contains(string(got), part) {
		c.t.Fatalf("got %s, want %s in it", got, part)
	}
}

// closedWith reads until the server's close frame and returns its code.
func (c *wsClient) closedWith() ws.StatusCode {
	c.t.Helper()
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			c.t.Fatalf("waiting for a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

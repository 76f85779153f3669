package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// sseNode is a node for stream tests: heartbeat and queue bound are
// theirs to choose (0: the defaults).
func sseNode(t testing.TB, cfg api.Config, eng broker.Engine, heartbeat time.Duration, maxQueue int) *nodetest.Node {
	t.Helper()
	return ssePathNode(t, cfg, eng, heartbeat, maxQueue, false)
}

// slowReaderCloseTimeout is the close deadline of the nodes of slow reader
// tests: long enough for a client that starts reading at the overflow to
// drain what the kernel holds (megabytes) before its socket is dropped,
// even under the race detector on a busy machine.
const slowReaderCloseTimeout = 30 * time.Second

// ssePathNode is sseNode whose streams take the portable path (a
// goroutine pair per connection, as under TLS) when portable is set.
func ssePathNode(t testing.TB, cfg api.Config, eng broker.Engine, heartbeat time.Duration, maxQueue int, portable bool) *nodetest.Node {
	t.Helper()
	closeTimeout := time.Duration(0) // transport's
	if maxQueue > 0 {
		closeTimeout = slowReaderCloseTimeout
	}
	return ssePathNodeClosingIn(t, cfg, eng, heartbeat, maxQueue, portable, closeTimeout)
}

// ssePathNodeClosingIn is ssePathNode whose connections are closed
// closeTimeout after their close began, at the latest (0: transport's 5 s).
func ssePathNodeClosingIn(t testing.TB, cfg api.Config, eng broker.Engine, heartbeat time.Duration, maxQueue int, portable bool, closeTimeout time.Duration) *nodetest.Node {
	t.Helper()
	nc := heraldnode.Config{
		NodeID: "test-node", MaxMessageBytes: testMaxMessageBytes * 64, Tokens: cfg.Tokens, Heartbeat: heartbeat,
		Broker:    broker.Config{RateLimit: 1000},
		Transport: transport.Config{MaxQueueBytes: maxQueue, Portable: portable, CloseTimeout: closeTimeout},
	}
	cfg.Tokens = nil
	nc.API = cfg
	return nodetest.Start(t, nodetest.Options{Engine: eng, Node: nc})
}

// onEachPath runs body with streams on the event loops and on the
// portable path.
func onEachPath(t *testing.T, body func(t *testing.T, portable bool)) {
	for _, portable := range []bool{false, true} {
		name := "epoll"
		if portable {
			name = "portable"
		}
		t.Run(name, func(t *testing.T) { body(t, portable) })
	}
}

// sseEvent is one event of a stream as an EventSource reads it; a
// comment line is an event of its own with only comment set.
type sseEvent struct {
	event, data, id, comment string
	hasID                    bool
}

// sseStream is a stream read by net/http's client.
type sseStream struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// openSSE requests base+path with headers (name, value pairs) and
// returns the stream, or the refusal when the answer is not 200.
func openSSE(t *testing.T, base, path string, headers ...string) (*sseStream, *reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, &reply{status: resp.StatusCode, header: resp.Header, body: b}
	}
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	return s, nil
}

// mustOpenSSE is openSSE for a stream that must open.
func mustOpenSSE(t *testing.T, base, path string, headers ...string) *sseStream {
	t.Helper()
	s, refused := openSSE(t, base, path, headers...)
	if refused != nil {
		t.Fatalf("GET %s: %d %s", path, refused.status, refused.body)
	}
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next event or comment; io.EOF once the stream ended.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	started := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (started || line != "") {
				return ev, io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && started:
			ev.data = strings.Join(data, "\n")
			return ev, nil
		case line == "":
			continue
		case strings.HasPrefix(line, ":"):
			if started {
				continue
			}
			return sseEvent{comment: strings.TrimSpace(line[1:])}, nil
		}
		started = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "id":
			ev.id, ev.hasID = value, true
		}
	}
}

// event reads up to the next event, skipping comments.
func (s *sseStream) event(t *testing.T) sseEvent {
	t.Helper()
	for {
		ev, err := s.next()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if ev.comment == "" {
			return ev
		}
	}
}

// streamTopic is one entry of the subscribed event.
type streamTopic struct {
	Topic     string  `json:"topic"`
	Epoch     string  `json:"epoch"`
	Seq       *uint64 `json:"seq"`
	Recovered *bool   `json:"recovered"`
}

// subscribed reads the first event, which must be subscribed.
func (s *sseStream) subscribed(t *testing.T) ([]streamTopic, string) {
	t.Helper()
	ev := s.event(t)
	var body struct {
		Topics []streamTopic `json:"topics"`
	}
	if ev.event != "subscribed" || json.Unmarshal([]byte(ev.data), &body) != nil || !ev.hasID {
		t.Fatalf("first event %+v, want subscribed with topics and an id", ev)
	}
	return body.Topics, ev.id
}

// streamMessage is a message event's data.
type streamMessage struct {
	Type    string          `json:"type"`
	Topic   string          `json:"topic"`
	Pattern string          `json:"pattern"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	Data    json.RawMessage `json:"data"`
}

// message reads the next event, which must be a message with an id.
func (s *sseStream) message(t *testing.T) (streamMessage, sseEvent) {
	t.Helper()
	ev := s.event(t)
	var m streamMessage
	if ev.event != "" || !ev.hasID || ev.id == "" || json.Unmarshal([]byte(ev.data), &m) != nil || m.Type != "message" {
		t.Fatalf("event %+v, want a message with an id", ev)
	}
	return m, ev
}

// streamOn reads the reply to an SSE request written on c, and its
// subscribed event.
func streamOn(t *testing.T, c net.Conn) *sseStream {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: func() {}}
	s.subscribed(t)
	return s
}

// closeEvent reads events up to the close event, handing each one before
// it to between when that is not nil, and returns the close event's data.
func (s *sseStream) closeEvent(t *testing.T, between func(sseEvent)) string {
	t.Helper()
	for {
		ev, err := s.next()
		if err != nil {
			t.Fatalf("stream ended without a close event: %v", err)
		}
		if ev.event == "close" {
			return ev.data
		}
		if between != nil {
			between(ev)
		}
	}
}

// closeCode reads events up to the close event and the end of the
// stream, and returns the close code.
func (s *sseStream) closeCode(t *testing.T) int {
	t.Helper()
	data := s.closeEvent(t, nil)
	var c struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("close event %q: %v", data, err)
	}
	if _, err := s.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close event: %v, want the end of the stream", err)
	}
	return c.Code
}

// publishN publishes data 1..n to topic over HTTP.
func publishN(t *testing.T, base, topic string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		resp, err := http.Post(base+"/api/publish", "application/json",
			strings.NewReader(`{"topic":"`+topic+`","data":`+strconv.Itoa(i)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
	}
}

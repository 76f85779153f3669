package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// ServerHeraldSSE loads Herald's Server-Sent Events (docs/protocol.md
// section 10): each subscriber is a GET /sse stream of one topic, on the
// node of the --url given for its WebSocket (/ws becomes /sse). Publishing
// and the report are Herald's; only the idle and fanout scenarios run.
// There is no ping command on a stream: a stream counts as alive once it
// got a heartbeat comment, which every open stream gets within a
// heartbeat, so the idle scenario, which holds for two, checks them all.
const ServerHeraldSSE = "herald-sse"

// ssePath is the stream path beside a WebSocket path.
func ssePath(wsPath string) string {
	return strings.TrimSuffix(strings.TrimSuffix(wsPath, "/ws"), "/") + "/sse"
}

// dialSSE opens target's stream of topic and reads up to the end of its
// subscribed event; it returns the topic's seq then. The connection reads
// with readEvent from then on.
func dialSSE(ctx context.Context, d *net.Dialer, target Target, topic string) (*wsConn, int64, error) {
	nc, err := d.DialContext(ctx, "tcp", target.HostPort)
	if err != nil {
		return nil, 0, fmt.Errorf("dial %s: %w", target.HostPort, err)
	}
	c := &wsConn{nc: nc, buf: make([]byte, readBufSize)}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	seq, err := c.openStream(target, topic)
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, seq, nil
}

func (c *wsConn) openStream(t Target, topic string) (int64, error) {
	req := "GET " + ssePath(t.Path) + "?topic=" + url.QueryEscape(topic) + " HTTP/1.1\r\nHost: " + t.HostPort + "\r\n"
	if t.Token != "" {
		req += "Authorization: Bearer " + t.Token + "\r\n"
	}
	if _, err := io.WriteString(c.nc, req+"\r\n"); err != nil {
		return 0, fmt.Errorf("stream request: %w", err)
	}
	head, err := c.readHead()
	if err != nil {
		return 0, err
	}
	if line, _, _ := bytes.Cut(head, []byte("\r\n")); !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return 0, fmt.Errorf("stream: server answered %q", line)
	}
	event, data, err := c.readEvent()
	if err != nil {
		return 0, err
	}
	if string(event) != "subscribed" {
		return 0, fmt.Errorf("stream: first event %q, not subscribed", event)
	}
	seq, _ := intField(data, `"seq":`)
	return seq, nil
}

// readEvent returns the next event's type ("" for a message) and data,
// which are valid until the next call. Herald's data is one line of
// JSON. A heartbeat comment counts in c.pings and returns an event named
// "ping" without data.
func (c *wsConn) readEvent() (event, data []byte, err error) {
	c.frag = c.frag[:0] // the data, kept apart: reading on moves the buffer
	event = nil
	started := false
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case len(line) == 0 && started:
			return event, c.frag, nil
		case len(line) == 0:
		case line[0] == ':':
			if c.pings != nil {
				c.pings.Add(1)
			}
			return []byte("ping"), nil, nil
		case bytes.HasPrefix(line, []byte("data: ")):
			started = true
			c.frag = append(c.frag, line[len("data: "):]...)
		case bytes.HasPrefix(line, []byte("event: ")):
			started = true
			event = append(event[:0], line[len("event: "):]...)
		default:
			started = true // id: and fields the benchmark ignores
		}
	}
}

// readLine returns the next line without its LF, valid until the next
// read.
func (c *wsConn) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.buf[c.r:c.w], '\n'); i >= 0 {
			line := c.buf[c.r : c.r+i]
			c.r += i + 1
			return line, nil
		}
		if err := c.fill(c.w - c.r + 1); err != nil {
			return nil, err
		}
		c.readAt = time.Now()
	}
}

// readSSE counts what arrives on one stream until it ends.
func (w *worker) readSSE(c *wsConn, topic int, lastSeq int64) {
	defer w.readers.Done()
	defer w.open.Add(-1)
	alive := false
	for {
		event, data, err := c.readEvent()
		if err != nil {
			w.readEnded(err)
			return
		}
		switch string(event) {
		case "":
			lastSeq = w.onDelivery(data, c.readAt, topic, lastSeq)
		case "ping":
			if !alive {
				alive = true
				w.alive.Add(1)
			}
		case "close":
			code, _ := intField(data, `"code":`)
			w.readEnded(&CloseError{Code: int(code)})
			return
		}
	}
}

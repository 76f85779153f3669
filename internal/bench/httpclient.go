package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is a minimal HTTP/1.1 keep-alive client for one endpoint: it
// writes a POST and reads a reply with a Content-Length. net/http costs
// some 80 µs of CPU a request here, enough to make the publishers, not the
// server, the limit; this costs a write and a read.
type httpConn struct {
	hostPort string
	head     []byte // the request line and headers up to Content-Length
	timeout  time.Duration
	nc       net.Conn
	br       *bufio.Reader
	req      []byte
}

// newHTTPConn prepares requests to path; auth is a whole header line
// ending in CRLF, or "".
func newHTTPConn(t Target, path, auth string, timeout time.Duration) *httpConn {
	head := "POST " + path + " HTTP/1.1\r\nHost: " + t.HostPort + "\r\nContent-Type: application/json\r\n" + auth
	return &httpConn{hostPort: t.HostPort, head: []byte(head + "Content-Length: "), timeout: timeout}
}

// httpReply is one answered request.
type httpReply struct {
	status int
	body   []byte // valid until the connection's next request
	// took runs from just before the request's write to the reply's last
	// byte read: the round trip, without the dial of a new connection or
	// a failed write on a stale one.
	took time.Duration
}

// post sends body and returns the reply. A broken connection is
// redialled once.
func (c *httpConn) post(ctx context.Context, body []byte) (httpReply, error) {
	fresh := c.nc == nil
	if fresh {
		if err := c.dial(ctx); err != nil {
			return httpReply{}, err
		}
	}
	reply, err := c.roundTrip(body)
	if err != nil && !fresh && isStale(err) {
		c.close()
		if err := c.dial(ctx); err != nil {
			return httpReply{}, err
		}
		reply, err = c.roundTrip(body)
	}
	if err != nil {
		c.close()
	}
	return reply, err
}

// isStale says a kept-alive connection failed while the request was being
// written: sending again cannot publish twice. A failure after the write
// is counted, not retried, since the server may have taken the message.
func isStale(err error) bool { return errors.Is(err, errWriteFailed) }

var errWriteFailed = errors.New("request not written")

func (c *httpConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(ctx, "tcp", c.hostPort)
	if err != nil {
		return fmt.Errorf("publish: dial %s: %w", c.hostPort, err)
	}
	c.nc, c.br = nc, bufio.NewReaderSize(nc, 4096)
	return nil
}

func (c *httpConn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

func (c *httpConn) roundTrip(body []byte) (httpReply, error) {
	c.req = append(c.req[:0], c.head...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	start := time.Now()
	_ = c.nc.SetDeadline(start.Add(c.timeout))
	if _, err := c.nc.Write(c.req); err != nil {
		return httpReply{}, fmt.Errorf("publish: %w: %w", errWriteFailed, err)
	}
	status, reply, err := readHTTPReply(c.br, &c.req)
	return httpReply{status: status, body: reply, took: time.Since(start)}, err
}

// readHTTPReply reads one response with a Content-Length body into *buf.
func readHTTPReply(br *bufio.Reader, buf *[]byte) (int, []byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("publish: reading status: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, fmt.Errorf("publish: bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("publish: bad status line %q", line)
	}
	length, err := readHeaders(br)
	if err != nil {
		return 0, nil, err
	}
	*buf = append((*buf)[:0], make([]byte, length)...)
	if _, err := io.ReadFull(br, *buf); err != nil {
		return 0, nil, fmt.Errorf("publish: reading body: %w", err)
	}
	return status, *buf, nil
}

// readHeaders skips the headers and returns Content-Length, which the
// reply must have (Go's server sets it on every small reply).
func readHeaders(br *bufio.Reader) (int, error) {
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("publish: reading headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if bytes.EqualFold(name, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 || n > 1<<20 {
				return 0, fmt.Errorf("publish: bad Content-Length %q", value)
			}
			length = n
		}
	}
	if length < 0 {
		return 0, errors.New("publish: reply without Content-Length")
	}
	return length, nil
}

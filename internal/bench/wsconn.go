package bench

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Why a goroutine per connection and not an epoll loop of our own: Go's
// runtime already waits on epoll for every blocked Read, so the syscalls per
// delivered frame are the same either way (one read per burst the server
// writes), and the read syscalls are where the time goes: profiled on a
// fan-out run, 56 % of a worker's CPU is in read, about 20 % in the
// scheduler (what an own loop could save), 9 % in parsing and counting
// (0.2 µs a delivery then, 0.26 µs since gobwas/ws reads the header, and no
// allocation: BenchmarkReadDelivery). Measured at
// 200 to 10,000 subscribers the whole tool used 0.6 to 0.9 times the
// server's CPU, as a reader of one socket costs about what its writer
// does. What a goroutine adds is its stack, about 8 KiB, plus our 4 KiB
// read buffer: some 180 MiB for a worker's 15,000 connections, paid in the
// benchmark's processes, never in the server's figures. The read buffer
// grows only while a frame larger than it is being read.

// readBufSize is each connection's read buffer: enough for a burst of
// coalesced deliveries (about 25 frames of 160 bytes) in one read.
const readBufSize = 4096

// ErrClosed is returned once the server has closed the WebSocket.
var ErrClosed = errors.New("herald/bench: closed by server")

// CloseError is the close code the server sent.
type CloseError struct{ Code int }

func (e *CloseError) Error() string { return fmt.Sprintf("bench: server closed with %d", e.Code) }

// Unwrap lets callers test for ErrClosed.
func (e *CloseError) Unwrap() error { return ErrClosed }

// wsConn is the client end of one WebSocket. ReadMessage belongs to one
// goroutine; writes may come from any.
type wsConn struct {
	nc   net.Conn
	buf  []byte // read buffer; buf[r:w] is read but not parsed
	r, w int
	hr   headerReader
	frag []byte // a fragmented text message being put together
	// readAt is when the last read returned: one clock reading serves every
	// message of a burst.
	readAt time.Time

	wmu sync.Mutex
	fw  frameWriter

	reads *atomic.Int64 // counts read calls that returned data, if set
	pings *atomic.Int64 // counts pings answered, if set
}

// dialWS opens a WebSocket to target (ws://host:port/path) from source.
func dialWS(ctx context.Context, d *net.Dialer, target Target) (*wsConn, error) {
	nc, err := d.DialContext(ctx, "tcp", target.HostPort)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target.HostPort, err)
	}
	c := &wsConn{nc: nc, buf: make([]byte, readBufSize)}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if err := c.handshake(target); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// handshake performs the opening handshake of RFC 6455 section 4.1.
func (c *wsConn) handshake(t Target) error {
	key := base64.StdEncoding.EncodeToString(randomKey())
	req := "GET " + t.Path + " HTTP/1.1\r\nHost: " + t.HostPort +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n"
	if t.Token != "" {
		req += "Authorization: Bearer " + t.Token + "\r\n"
	}
	if _, err := io.WriteString(c.nc, req+"\r\n"); err != nil {
		return fmt.Errorf("handshake write: %w", err)
	}
	head, err := c.readHead()
	if err != nil {
		return err
	}
	return checkUpgradeResponse(head, key)
}

// readHead reads up to the end of the HTTP response head, leaving whatever
// follows it (the welcome, often) in the buffer.
func (c *wsConn) readHead() ([]byte, error) {
	for {
		if i := bytes.Index(c.buf[:c.w], []byte("\r\n\r\n")); i >= 0 {
			head := append([]byte(nil), c.buf[:i]...)
			c.r = i + 4
			return head, nil
		}
		if c.w == len(c.buf) {
			return nil, errors.New("handshake: response head over 4 KiB")
		}
		n, err := c.nc.Read(c.buf[c.w:])
		if err != nil {
			return nil, fmt.Errorf("handshake read: %w", err)
		}
		c.w += n
	}
}

// checkUpgradeResponse accepts only a 101 whose Sec-WebSocket-Accept
// matches key.
func checkUpgradeResponse(head []byte, key string) error {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return fmt.Errorf("handshake: server answered %q", line)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for _, h := range bytes.Split(rest, []byte("\r\n")) {
		name, value, _ := bytes.Cut(h, []byte(":"))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(value)) != want {
				return errors.New("handshake: wrong Sec-WebSocket-Accept")
			}
			return nil
		}
	}
	return errors.New("handshake: no Sec-WebSocket-Accept")
}

// ReadMessage returns the next text message, answering pings on the way.
// The payload is valid until the next call. at is when the read that
// brought the message returned.
func (c *wsConn) ReadMessage() (payload []byte, at time.Time, err error) {
	for {
		h, hs, err := c.hr.parse(c.buf[c.r:c.w], c.frag != nil)
		if err != nil {
			return nil, c.readAt, err
		}
		n := int(h.Length) // at most maxFrame
		if hs == 0 || c.w-c.r < hs+n {
			if err := c.fill(hs + n); err != nil {
				return nil, c.readAt, err
			}
			c.readAt = time.Now()
			continue
		}
		body := c.buf[c.r+hs : c.r+hs+n]
		c.r += hs + n
		msg, done, err := c.onFrame(h, body)
		if err != nil || done {
			return msg, c.readAt, err
		}
	}
}

// onFrame handles one whole frame, whose header parse checked against the
// fragmentation state; done says msg is a complete message.
func (c *wsConn) onFrame(h ws.Header, body []byte) (msg []byte, done bool, err error) {
	switch h.OpCode {
	case ws.OpPing:
		if c.pings != nil {
			c.pings.Add(1)
		}
		return nil, false, c.Write(ws.OpPong, body)
	case ws.OpPong:
		return nil, false, nil
	case ws.OpClose:
		code := closeCode(body)
		_ = c.Write(ws.OpClose, body[:min(2, len(body))])
		return nil, false, &CloseError{Code: int(code)}
	case ws.OpBinary:
		return nil, false, fmt.Errorf("%w: binary frame", ErrFrame)
	case ws.OpText:
		if h.Fin {
			return body, true, nil
		}
		c.frag = append(make([]byte, 0, 2*len(body)), body...)
		return nil, false, nil
	}
	c.frag = append(c.frag, body...) // a continuation: parse refused one without a start
	if !h.Fin {
		return nil, false, nil
	}
	msg, c.frag = c.frag, nil
	return msg, true, nil
}

// fill reads more from the socket so that at least need unparsed bytes
// (or one more byte when need is 0) are buffered.
func (c *wsConn) fill(need int) error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	switch {
	case need > len(c.buf):
		c.buf = append(c.buf[:c.w], make([]byte, need-c.w)...)
	case len(c.buf) > readBufSize && need <= readBufSize && c.w <= readBufSize:
		// The large frame is read: give its memory back.
		small := make([]byte, readBufSize)
		copy(small, c.buf[:c.w])
		c.buf = small
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		if c.reads != nil {
			c.reads.Add(1)
		}
		return nil
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: connection closed without a close frame", ErrClosed)
	}
	return err
}

// Write sends one masked frame. Safe from any goroutine.
func (c *wsConn) Write(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(c.fw.frame(op, payload))
	return err
}

// WriteText sends one text message.
func (c *wsConn) WriteText(payload []byte) error { return c.Write(ws.OpText, payload) }

// Close closes the socket; a blocked ReadMessage returns.
func (c *wsConn) Close() error { return c.nc.Close() }

package bench

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// pipeConn is a wsConn whose server end the test drives.
func pipeConn(t *testing.T) (*wsConn, net.Conn) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	return &wsConn{nc: client, buf: make([]byte, readBufSize)}, server
}

func TestReadMessageReassemblesAndAnswersPings(t *testing.T) {
	c, server := pipeConn(t)
	big := bytes.Repeat([]byte("x"), 3*readBufSize) // grows the buffer
	var stream []byte
	stream = append(stream, serverFrame(t, false, ws.OpText, []byte(`{"type":`))...)
	stream = append(stream, serverFrame(t, true, ws.OpPing, []byte("hb"))...)
	stream = append(stream, serverFrame(t, true, ws.OpContinuation, []byte(`"pong"}`))...)
	stream = append(stream, serverFrame(t, true, ws.OpText, big)...)
	stream = append(stream, serverFrame(t, true, ws.OpClose, []byte{0x0F, 0xA2})...)
	go func() {
		for _, b := range stream { // byte by byte: every read is partial
			if _, err := server.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	pong := make(chan ws.Frame, 2)
	go func() {
		for {
			f, err := ws.ReadFrame(server)
			if err != nil {
				close(pong)
				return
			}
			pong <- f
		}
	}()
	msg, _, err := c.ReadMessage()
	if err != nil || string(msg) != `{"type":"pong"}` {
		t.Fatalf("first message %q, %v", msg, err)
	}
	f := <-pong
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	if f.Header.OpCode != ws.OpPong || !f.Header.Masked || string(f.Payload) != "hb" {
		t.Errorf("ping answered with %+v %q", f.Header, f.Payload)
	}
	msg, _, err = c.ReadMessage()
	if err != nil || !bytes.Equal(msg, big) {
		t.Fatalf("big message: %d bytes, %v", len(msg), err)
	}
	_, _, err = c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4002 || !errors.Is(err, ErrClosed) {
		t.Errorf("close: %v, want CloseError 4002", err)
	}
	if len(c.buf) != readBufSize {
		t.Errorf("read buffer kept %d bytes after the big message", len(c.buf))
	}
}

func TestReadMessageRefusesBinaryAndStrayContinuation(t *testing.T) {
	for name, frame := range map[string][]byte{
		"binary":       serverFrame(t, true, ws.OpBinary, []byte("b")),
		"continuation": serverFrame(t, true, ws.OpContinuation, []byte("c")),
	} {
		c, server := pipeConn(t)
		go func() { _, _ = server.Write(frame) }()
		if _, _, err := c.ReadMessage(); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

func TestReadMessageReportsEOF(t *testing.T) {
	c, server := pipeConn(t)
	server.Close()
	if _, _, err := c.ReadMessage(); !errors.Is(err, ErrClosed) {
		t.Errorf("%v, want ErrClosed", err)
	}
}

func TestCheckUpgradeResponse(t *testing.T) {
	key := "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 section 1.3's example
	good := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	if err := checkUpgradeResponse([]byte(good), key); err != nil {
		t.Errorf("good response: %v", err)
	}
	bad := map[string]string{
		"status":    "HTTP/1.1 401 Unauthorized\r\nX: y",
		"accept":    "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope",
		"no accept": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket",
	}
	for name, head := range bad {
		if err := checkUpgradeResponse([]byte(head), key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

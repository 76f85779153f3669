//go:build linux

package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A TLS client that closes while it is behind in its reading still gets
// all that was queued before the node's answer, and the answer, as over
// plain TCP (TestClientsCloseKeepsWhatASlowReaderHasNotRead): the node
// asks the TCP socket under TLS whether its client has it all (with the
// close_notify that follows the close frame) before it closes it.
func TestTLSClientsCloseKeepsWhatASlowReaderHasNotRead(t *testing.T) {
	acc := &echoAcceptor{}
	srv, url := startTLSServer(t, Config{Loops: 1, SendBufferBytes: 16 << 10, CloseTimeout: 10 * time.Minute}, acc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}, NetDial: smallBufferDialer().DialContext}
	nc, _, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(15 * time.Second))
	eventually(t, "the connection opened", func() bool { return len(acc.all()) == 1 })
	s := acc.all()[0]
	const frames = 64 // 256 KiB: more than the two buffers hold
	payload := bytes.Repeat([]byte("m"), 4<<10)
	for i := 0; i < frames; i++ {
		if !s.c.Send(ws.MustCompileFrame(ws.NewTextFrame(payload))) {
			t.Fatal("send refused")
		}
	}
	cf := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	if err := ws.WriteFrame(nc, ws.MaskFrame(cf)); err != nil {
		t.Fatal(err)
	}
	texts := 0
	read := func(n int) {
		for texts < n {
			f, err := ws.ReadFrame(nc)
			if err != nil {
				t.Fatalf("message %d of %d: %v", texts+1, frames, err)
			}
			if f.Header.OpCode == ws.OpText {
				texts++
			}
		}
	}
	read(frames - 5) // the last 5 fit in the two buffers, with the answer
	eventually(t, "the node wrote all it queued", func() bool { return s.c.(*conn).QueuedBytes() == 0 })
	// A pong, which a client sends until it reads the close frame:
	// had the node closed its socket, this would reset the connection.
	if err := ws.WriteFrame(nc, ws.MaskFrame(ws.NewPongFrame(nil))); err != nil {
		t.Fatal(err)
	}
	read(frames)
	for {
		f, err := ws.ReadFrame(nc)
		if err != nil {
			t.Fatalf("reading for the close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			break
		}
	}
	eventually(t, "the connection ended", func() bool { return s.disconnected.Load() == 1 && srv.Connections() == 0 })
}

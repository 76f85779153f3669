package api_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/limits"
)

// closes says how many of n requests to path over one keep-alive client
// were answered with their connection closed; every one is answered
// status.
func closes(t *testing.T, base, path string, n, status int) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	closed := 0
	for range n {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s answered %d, want %d", path, resp.StatusCode, status)
		}
		if resp.Close {
			closed++
		}
	}
	return closed
}

// Requests without a valid API key are paced per address: past the burst
// each is still answered as usual (/healthz 200, a refusal its refusal),
// but its connection is closed after it, so that a keep-alive connection
// cannot ask as fast as it sends. A backend's requests (here a loopback
// caller's with no key configured) are never closed for it.
func TestRequestsWithoutAKeyArePacedPerAddress(t *testing.T) {
	const burst = 5
	n := startNode(t, api.Config{Requests: connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst})}, nil)
	const tries = 20
	start := time.Now()
	got := closes(t, n.base, "/healthz", tries, http.StatusOK)
	got += closes(t, n.base, "/nothing-here", tries, http.StatusNotFound)
	// The pace's rate of one a second may let a few more keep theirs.
	if least := 2*tries - burst - 1 - int(time.Since(start)/time.Second); got < least {
		t.Errorf("%d of %d answers without a key closed their connection, want %d at least", got, 2*tries, least)
	}
	if got := closes(t, n.base, "/api/stats", tries, http.StatusOK); got != 0 {
		t.Errorf("%d of %d of a backend's requests closed their connection", got, tries)
	}
}

// A /metrics request past its address's pace is answered 429 and its
// connection closed after it, so that a keep-alive connection cannot
// have refusals as fast as it sends.
func TestMetricsPastThePaceCloseTheConnection(t *testing.T) {
	const burst = 3
	n := startNode(t, api.Config{
		Probes:  connLimiter(t, limits.ConnConfig{Rate: 1, Burst: burst}),
		Metrics: http.NotFoundHandler(),
	}, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	refused := 0
	for range 4 * burst {
		resp, err := client.Get(n.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			if !resp.Close {
				t.Fatal("a 429 from /metrics kept its connection open")
			}
		}
	}
	if refused == 0 {
		t.Fatal("no /metrics request was refused past the pace")
	}
}

// writeAfterClose writes junk to c for up to 3 s while it reads until
// the server's close, and returns how many bytes c took. With
// afterClose it writes nothing until the close came. A close that never
// came within 10 s fails the test: what c took then says nothing.
func writeAfterClose(t *testing.T, c net.Conn, closeMark, junk []byte, afterClose bool) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	closed := make(chan struct{})
	// sawClose is set before closed is closed, and read after.
	var sawClose bool
	go func() { // reads what the server sends until its close
		defer close(closed)
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, closeMark) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
		}
		sawClose = true
	}()
	if afterClose {
		<-closed
	}
	junk = bytes.Repeat(junk, (64<<10)/len(junk))
	written := 0
	c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for {
		n, err := c.Write(junk)
		written += n
		if err != nil {
			break // the sockets are full, or the connection is gone
		}
	}
	<-closed
	if !sawClose {
		t.Errorf("the server's close (%q) never came", closeMark)
	}
	return written
}

// A stream's client that goes on sending after its stream closed (past
// 4 KiB of input: 1008) has about 64 KiB of it read, and no more: the
// rest waits in the sockets, which fill, until the close deadline ends
// the connection. It used to be read as fast as it came until then, 5 GB
// in 5 s on loopback. So does a WebSocket client that sends after the
// server's close frame, past 1 MiB. The close deadline is 1 s here, which
// all that reading would still take far past the bound.
func TestAClosedConnectionIsReadNoMore(t *testing.T) {
	n := startNodeClosingIn(t, api.Config{}, nil, time.Second)
	for _, tc := range []struct {
		name, request string
		after         []byte // sent with the request
		closeMark     []byte // what the server's close starts with
		junk          []byte // sent over and over
		// afterClose: the junk is sent only once the close came. A
		// stream's junk is what closes it. A WebSocket's junk read with
		// the frame that closes it is dropped with that read's rest, so
		// the walk for the client's close frame would begin inside a
		// junk frame, where an "x" (0x78) reads as a close header: the
		// node takes the handshake as done and drops the connection, and
		// a broken bound went unseen.
		afterClose bool
	}{
		{"stream", "GET /sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n", nil, []byte("event: close"), []byte("x"), false},
		{"websocket", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			[]byte{0x82, 0x80, 1, 2, 3, 4}, // a binary frame, masked and empty: closed 1003
			[]byte{0x88},
			append([]byte{0x81, 0xfc, 1, 2, 3, 4}, bytes.Repeat([]byte("x"), 124)...), // text frames, walked past
			true},
	} {
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(append([]byte(tc.request), tc.after...)); err != nil {
			t.Fatal(err)
		}
		// What the node read, and what the two sockets' buffers hold.
		if written, most := writeAfterClose(t, c, tc.closeMark, tc.junk, tc.afterClose), 64<<20; written > most {
			t.Errorf("%s: the client wrote %d bytes after its close, want %d at most", tc.name, written, most)
		}
	}
}

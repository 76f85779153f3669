package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap/zaptest"
)

// A TLS connection is not a plain TCP socket: even with epoll loops
// running it takes the portable path, and works the same.
func TestTLSConnectionTakesThePortablePath(t *testing.T) {
	acc := &echoAcceptor{}
	srv, url := startTLSServer(t, Config{Loops: 1}, acc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	nc, _, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientText(nc, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	got, err := wsutil.ReadServerText(nc)
	if err != nil || string(got) != "over tls" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if portable := srv.portable.count(); portable != 1 {
		t.Fatalf("%d portable connections, want the TLS one", portable)
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(ctx) }()
	if code := readTLSClose(t, nc); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	nc.Close()
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
}

// startTLSServer serves a new Server's Upgrade, with cfg and acc, over
// TLS on a loopback port (httptest's certificate, which a client takes
// with InsecureSkipVerify), and returns the server and its wss:// URL.
// The cleanup closes the HTTP server and waits for its handlers.
func startTLSServer(t *testing.T, cfg Config, acc *echoAcceptor) (*Server, string) {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var handlers sync.WaitGroup
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		srv.Upgrade(w, r, broker.ClientInfo{}, acc)
	}))
	t.Cleanup(func() {
		hs.Close()
		handlers.Wait()
	})
	return srv, "wss://" + strings.TrimPrefix(hs.URL, "https://") + "/ws"
}

func readTLSClose(t *testing.T, nc io.Reader) ws.StatusCode {
	for {
		f, err := ws.ReadFrame(nc)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose && len(f.Payload) >= 2 {
			return ws.StatusCode(binary.BigEndian.Uint16(f.Payload))
		}
	}
}

func TestUpgradeAfterShutdownIs503(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+ts.addr+"/ws", nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
	})
}

package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeCentrifugo speaks just enough of Centrifugo v6's JSON protocol for
// the benchmark: connect, subscribe, unsubscribe, an application ping
// after subscribing, and POST /api/publish with X-API-Key. Publications
// are held and sent every few milliseconds, several a frame, one a line,
// as Centrifugo batches them.
type fakeCentrifugo struct {
	t   *testing.T
	key string

	mu      sync.Mutex
	subs    map[string][]*fakeConn
	pending map[string][][]byte // pushes not yet sent, by channel
	pongs   int
	conns   sync.WaitGroup
	stop    chan struct{}
}

func newFakeCentrifugo(t *testing.T) *fakeCentrifugo {
	return &fakeCentrifugo{t: t, key: "k", subs: map[string][]*fakeConn{}, pending: map[string][][]byte{}, stop: make(chan struct{})}
}

// serve starts the fake on 127.0.0.1:0 and returns its WebSocket URL.
func (f *fakeCentrifugo) serve() string {
	mux := http.NewServeMux()
	mux.HandleFunc("/connection/websocket", f.handleWS)
	mux.HandleFunc("/api/publish", f.handlePublish)
	srv := httptest.NewServer(mux)
	var flusher sync.WaitGroup
	flusher.Add(1)
	go func() { defer flusher.Done(); f.flushEvery(5 * time.Millisecond) }()
	f.t.Cleanup(func() {
		close(f.stop)
		flusher.Wait()
		srv.CloseClientConnections()
		srv.Close()
		f.conns.Wait()
	})
	return "ws://" + srv.Listener.Addr().String() + "/connection/websocket"
}

func (f *fakeCentrifugo) handleWS(w http.ResponseWriter, r *http.Request) {
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	c := &fakeConn{nc: nc}
	f.conns.Add(1)
	go func() {
		defer f.conns.Done()
		defer nc.Close()
		for {
			msg, err := wsutil.ReadClientText(nc)
			if err != nil {
				return
			}
			f.command(c, msg)
		}
	}()
}

type fakeCfCommand struct {
	ID          int                       `json:"id"`
	Connect     json.RawMessage           `json:"connect"`
	Subscribe   *struct{ Channel string } `json:"subscribe"`
	Unsubscribe *struct{ Channel string } `json:"unsubscribe"`
}

func (f *fakeCentrifugo) command(c *fakeConn, raw []byte) {
	if string(raw) == "{}" {
		f.mu.Lock()
		f.pongs++
		f.mu.Unlock()
		return
	}
	var cmd fakeCfCommand
	if err := json.Unmarshal(raw, &cmd); err != nil || cmd.ID == 0 {
		_ = c.nc.Close() // Centrifugo closes with 3501 bad request
		return
	}
	switch {
	case cmd.Connect != nil:
		c.send([]byte(fmt.Sprintf(`{"id":%d,"connect":{"client":"c","version":"fake","ping":25,"pong":true}}`, cmd.ID)))
	case cmd.Subscribe != nil:
		f.mu.Lock()
		f.subs[cmd.Subscribe.Channel] = append(f.subs[cmd.Subscribe.Channel], c)
		f.mu.Unlock()
		c.send([]byte(fmt.Sprintf(`{"id":%d,"subscribe":{}}`, cmd.ID)))
		c.send([]byte(`{}`)) // the server's ping, early
	case cmd.Unsubscribe != nil:
		c.send([]byte(fmt.Sprintf(`{"id":%d,"unsubscribe":{}}`, cmd.ID)))
	default:
		c.send([]byte(fmt.Sprintf(`{"id":%d,"error":{"code":108,"message":"not available"}}`, cmd.ID)))
	}
}

func (f *fakeCentrifugo) handlePublish(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != f.key {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var body struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Channel == "" {
		fmt.Fprint(w, `{"error":{"code":107,"message":"bad request"}}`)
		return
	}
	if strings.Contains(body.Channel, "forbidden") {
		fmt.Fprint(w, `{"error":{"code":103,"message":"permission denied"}}`)
		return
	}
	push := fmt.Sprintf(`{"push":{"channel":%q,"pub":{"data":%s}}}`, body.Channel, body.Data)
	f.mu.Lock()
	f.pending[body.Channel] = append(f.pending[body.Channel], []byte(push))
	f.mu.Unlock()
	fmt.Fprint(w, `{"result":{}}`)
}

// flushEvery sends each channel's held pushes as one frame, until stopped.
func (f *fakeCentrifugo) flushEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		f.mu.Lock()
		for ch, pushes := range f.pending {
			frame := bytes.Join(pushes, []byte("\n"))
			for _, c := range f.subs[ch] {
				c.send(frame)
			}
			delete(f.pending, ch)
		}
		f.mu.Unlock()
	}
}

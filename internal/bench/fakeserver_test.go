package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeHub is the shared state of one or more fake nodes: topics, their
// seq and their subscribers. It speaks just enough of docs/protocol.md for the
// benchmark: welcome, subscribe, ping, publish over WebSocket and over
// POST /api/publish.
type fakeHub struct {
	t         *testing.T
	heartbeat int
	// publishDelay holds every HTTP publish's answer back this long.
	publishDelay time.Duration

	mu     sync.Mutex
	byHost map[string]int // publishes and subscriptions per node (Host header)
	seq    map[string]int64
	subs   map[string][]*fakeConn
	conns  sync.WaitGroup
	closed []net.Conn
}

type fakeConn struct {
	mu sync.Mutex
	nc net.Conn
}

func (c *fakeConn) send(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = wsutil.WriteServerText(c.nc, msg)
}

// ping sends a WebSocket ping, as the server's heartbeat does.
func (c *fakeConn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = ws.WriteFrame(c.nc, ws.NewPingFrame([]byte("hb")))
}

func newFakeHub(t *testing.T) *fakeHub {
	return &fakeHub{t: t, heartbeat: 25, byHost: map[string]int{}, seq: map[string]int64{}, subs: map[string][]*fakeConn{}}
}

// serve starts one fake node on 127.0.0.1:0 and returns its ws:// URL.
func (h *fakeHub) serve() string {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.handleWS)
	mux.HandleFunc("/api/publish", h.handlePublish)
	srv := httptest.NewServer(mux)
	h.t.Cleanup(func() {
		srv.Close()
		h.mu.Lock()
		for _, c := range h.closed {
			c.Close()
		}
		h.mu.Unlock()
		h.conns.Wait()
	})
	return "ws://" + srv.Listener.Addr().String() + "/ws"
}

func (h *fakeHub) handleWS(w http.ResponseWriter, r *http.Request) {
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	c := &fakeConn{nc: nc}
	h.mu.Lock()
	h.byHost["ws "+r.Host]++
	h.closed = append(h.closed, nc)
	h.mu.Unlock()
	h.conns.Add(1)
	go func() {
		defer h.conns.Done()
		defer nc.Close()
		c.send([]byte(fmt.Sprintf(`{"type":"welcome","session":"s","node":"fake","heartbeat":%d}`, h.heartbeat)))
		for {
			msg, err := wsutil.ReadClientText(nc)
			if err != nil {
				return
			}
			h.command(c, msg)
		}
	}()
}

type fakeCommand struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

func (h *fakeHub) command(c *fakeConn, raw []byte) {
	var cmd fakeCommand
	if err := json.Unmarshal(raw, &cmd); err != nil {
		c.send([]byte(`{"type":"error","code":"bad_request","message":"not JSON"}`))
		return
	}
	switch cmd.Type {
	case "subscribe":
		h.mu.Lock()
		h.subs[cmd.Topic] = append(h.subs[cmd.Topic], c)
		seq := h.seq[cmd.Topic]
		h.mu.Unlock()
		c.send([]byte(fmt.Sprintf(`{"type":"subscribed","id":%q,"topic":%q,"epoch":"e","seq":%d}`, cmd.ID, cmd.Topic, seq)))
		c.ping()
	case "ping":
		c.send([]byte(fmt.Sprintf(`{"type":"pong","id":%q}`, cmd.ID)))
	case "publish":
		seq := h.publish(cmd.Topic, cmd.Data)
		c.send([]byte(fmt.Sprintf(`{"type":"published","id":%q,"topic":%q,"seq":%d,"msg":"m"}`, cmd.ID, cmd.Topic, seq)))
	default:
		c.send([]byte(`{"type":"error","code":"unknown_type","message":"?"}`))
	}
}

// publish gives the message its seq and sends it to every subscriber in
// seq order (the lock is held across the sends, which a fake may do).
func (h *fakeHub) publish(topic string, data json.RawMessage) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq[topic]++
	seq := h.seq[topic]
	msg := fmt.Sprintf(`{"type":"message","topic":%q,"seq":%d,"msg":"m","time":1,"data":%s}`, topic, seq, data)
	for _, c := range h.subs[topic] {
		c.send([]byte(msg))
	}
	return seq
}

func (h *fakeHub) handlePublish(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil || body.Topic == "" {
		http.Error(w, `{"error":{"code":"bad_request","message":"?"}}`, http.StatusBadRequest)
		return
	}
	if strings.Contains(body.Topic, "forbidden") {
		http.Error(w, `{"error":{"code":"forbidden","message":"no"}}`, http.StatusForbidden)
		return
	}
	h.mu.Lock()
	h.byHost["publish "+r.Host]++
	h.mu.Unlock()
	seq := h.publish(body.Topic, body.Data)
	time.Sleep(h.publishDelay)
	fmt.Fprintf(w, `{"topic":%q,"seq":%d,"msg":"m"}`, body.Topic, seq)
}

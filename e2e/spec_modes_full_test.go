package e2e

import (
	"fmt"
	"net/http"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// The check of spec_modes_contract_test.go on a Redis that refuses writes.

// fullRedis: every data server of mode is full under noeviction. What
// needs a write answers unavailable (503 over HTTP), never internal, and
// no number of them in a row closes a connection; /readyz answers 503 on
// both nodes. Once Redis takes writes again, both are ready and topics go
// on from their seqs (sections 2, 3).
func fullRedis(t *testing.T, a, b *process, mode redisMode) {
	ts := mode.spread("full.")
	for _, topic := range ts {
		publish(t, &a.node, topic, `"before"`)
	}
	setMaxMemory(t, mode, "1")
	c := wsOpen(t, a.ws+"?token="+anyToken(t, "f"), dialOpts{})
	for _, n := range []*process{a, b} {
		for _, topic := range ts {
			for _, req := range []struct{ path, body string }{
				{"/api/publish", fmt.Sprintf(`{"topic":%q,"data":"full"}`, topic)},
				{"/api/batch", fmt.Sprintf(`{"messages":[{"topic":%q,"data":"full"}]}`, topic)},
				{"/api/broadcast", fmt.Sprintf(`{"topics":[%q],"data":"full"}`, topic)},
			} {
				if code, body := rawPost(t, &n.node, req.path, req.body); code != http.StatusServiceUnavailable || errorCode([]byte(body)) != "unavailable" {
					t.Errorf("%s %s on %s while Redis is full: %d %s, want 503 unavailable", req.path, req.body, n.base, code, body)
				}
			}
			if m := c.cmd("p", `{"type":"publish","id":"p","topic":%q,"data":"full"}`, topic); m["type"] != "error" || m["code"] != "unavailable" {
				t.Errorf("a WebSocket publish to %s while Redis is full: %v, want unavailable", topic, m)
			}
		}
		if code := status(t, n.base+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz on %s while Redis is full: %d, want 503", n.base, code)
		}
	}
	// Eleven unavailable in a row do not close the connection (section 2).
	for range 11 {
		if m := c.cmd("p", `{"type":"publish","id":"p","topic":%q,"data":"full"}`, ts[0]); m["code"] != "unavailable" {
			t.Fatalf("a WebSocket publish while Redis is full: %v, want unavailable", m)
		}
	}
	if m := c.cmd("ping", `{"type":"ping","id":"ping"}`); m["type"] != "pong" {
		t.Errorf("a ping after eleven unavailable: %v", m)
	}
	for _, cmd := range []string{`{"type":"subscribe","id":"s","topic":"full.new"}`, `{"type":"subscribe","id":"s","topic":"room.full","presence":true}`} {
		if m := c.cmd("s", "%s", cmd); m["type"] == "error" && m["code"] != "unavailable" {
			t.Errorf("%s while Redis is full: %v, want subscribed or unavailable", cmd, m)
		}
	}
	if code, body := rawPost(t, &b.node, "/api/subscribe", `{"user":"f","topic":"full.x"}`); code != http.StatusOK && (code != http.StatusServiceUnavailable || errorCode([]byte(body)) != "unavailable") {
		t.Errorf("/api/subscribe while Redis is full: %d %s, want 200 or 503 unavailable", code, body)
	}

	setMaxMemory(t, mode, "0")
	for _, n := range []*process{a, b} {
		for i, topic := range ts {
			eventually(t, "a publish on "+n.base+" once Redis takes writes", func() bool {
				code, _ := rawPost(t, &n.node, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":"after"}`, topic))
				return code == http.StatusOK
			})
			if n == b {
				var h struct{ Seq uint64 }
				getJSON(t, n.base+"/api/history?topic="+ts[i], &h)
				if h.Seq != 3 {
					t.Errorf("%s after the refusals: seq %d, want 3 (before, after on a, after on b)", topic, h.Seq)
				}
			}
		}
		eventually(t, "/readyz on "+n.base+" once Redis takes writes", func() bool { return status(t, n.base+"/readyz") == http.StatusOK })
	}
}

// setMaxMemory sets maxmemory on every running data server of mode
// (noeviction is Redis's default policy).
func setMaxMemory(t *testing.T, mode redisMode, v string) {
	t.Helper()
	for _, n := range mode.servers() {
		if !n.Running() {
			continue
		}
		c := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
		err := c.ConfigSet(t.Context(), "maxmemory", v).Err()
		c.Close()
		if err != nil {
			t.Fatalf("CONFIG SET maxmemory %s on %s: %v", v, n.Addr(), err)
		}
	}
}

package e2e

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12: HERALD_REDIS_URL=rediss://... speaks TLS to Redis, for calls
// and pub/sub alike. A server certificate of a private CA is trusted
// through SSL_CERT_FILE, as docs/protocol.md says.
func TestSpecRedissTLS(t *testing.T) {
	t.Parallel()
	redis := redistest.StartTLS(t)
	env := []string{"HERALD_REDIS_URL=" + redis.TLSURL(), "SSL_CERT_FILE=" + redis.CAFile()}
	a, b := startProcess(t, "tls-a", env...), startProcess(t, "tls-b", env...)
	c := dial(t, a.ws)
	c.subscribe("s", "tls.room")
	seq := publish(t, &b.node, "tls.room", `"over TLS"`)
	if f := c.next(); f.Type != "message" || f.Seq != seq || string(f.Data) != `"over TLS"` {
		t.Fatalf("a message published on the other node: %s", f.text)
	}
	var h struct {
		Messages []struct{ Seq uint64 } `json:"messages"`
	}
	getJSON(t, a.base+"/api/history?topic=tls.room", &h)
	if len(h.Messages) != 1 || h.Messages[0].Seq != seq {
		t.Errorf("history over TLS: %+v", h)
	}
}

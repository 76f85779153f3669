package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A rediss:// URL that names a plain port gets no answer to its TLS
// handshake, so no command is ever sent: a publish is told nothing was
// published, and readiness names the handshake, long before the calls'
// timeout. The context below is far shorter than that timeout, so a
// handshake bounded only by the call would leave the publish with a
// deadline and no answer about its outcome.
func TestRedissToAPlainPortFailsAtTheHandshake(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newEngine(t, "rediss://"+srv.Addr()+"/0", redis.Config{HistorySize: 10, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := e.Publish(ctx, request("tls"))
	wantNothingPublished(t, "publish over TLS to a plain port", err)
	if !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("publish over TLS to a plain port: %v, want it to name the TLS handshake", err)
	}
	if err := e.Ready(ctx); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("readiness over TLS to a plain port: %v, want it to name the TLS handshake", err)
	}
}

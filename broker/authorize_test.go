package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// blockingHook asks about topics under room.* and answers yes once
// release is closed.
type blockingHook struct{ release chan struct{} }

func (h blockingHook) Asks(p string) (bool, bool) { return Covers("room.*", p), Covers("room.*", p) }
func (h blockingHook) AuthorizeSubscribe(ctx context.Context, _ SubscribeRequest) error {
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestHeldForTheHookIsBoundedInBytes: the subscribes waiting for the
// subscribe hook and the commands held behind them hold at most
// maxQueuedBytes between them; past it a command is answered
// rate_limited rather than held.
func TestHeldForTheHookIsBoundedInBytes(t *testing.T) {
	hook := blockingHook{release: make(chan struct{})}
	b, _ := newTestBroker(t, Config{RateLimit: -1, Subscribe: hook})
	defer close(hook.release)
	c := connect(t, b, ClientInfo{})
	epoch := strings.Repeat("e", 60<<10)
	for topic := range maxAuthorizing {
		for i := range 1 + maxHeldPerTopic { // 144 × 60 KiB is over 8 MiB
			c.s.HandleText(fmt.Appendf(nil, `{"type":"subscribe","id":"%d.%d","topic":"room.%d","since":{"epoch":%q,"seq":1}}`,
				topic, i, topic, epoch))
		}
	}
	limited := 0
	for _, e := range c.ofType("error") {
		if e["code"] == string(CodeRateLimited) {
			limited++
		}
	}
	// 1 MiB holds 17 of them (60 KiB each), so at least 144-17 are refused.
	if want := maxAuthorizing*(1+maxHeldPerTopic) - maxQueuedBytes/(60<<10); limited < want {
		t.Errorf("%d commands refused rate_limited; want at least %d past the byte bound", limited, want)
	}
}

package web

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/store/memory"
)

// switchingProxy refuses WebSocket upgrades while blocked is set, as a
// network that blocks them does, and passes everything else to the node.
type switchingProxy struct {
	next    http.Handler
	blocked atomic.Bool
}

func (p *switchingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.blocked.Load() && isUpgrade(r) {
		http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
		return
	}
	p.next.ServeHTTP(w, r)
}

// newSwitchingProxy puts a switchingProxy, blocking WebSocket to begin
// with, before the node at base, and returns it and its URL.
func newSwitchingProxy(t *testing.T, base string) (*switchingProxy, string) {
	t.Helper()
	p := &switchingProxy{}
	p.blocked.Store(true)
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		p.next = next
		return p
	})
	return p, front
}

// TestClientOverSSEResumesFromWhereItIs: a stream resumes each topic from
// the position the client has of it, not from the last event id a
// stream sent. Here the client follows news over SSE, then, after close()
// and connect(), over WebSocket, past what the node's history (3
// messages) still holds of where the stream left it; back on SSE, a
// resume from that old id heard recovered:false (onRecoveryFailed,
// though nothing was missed) and read the history again.
func TestClientOverSSEResumesFromWhereItIs(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{
		Engine: memory.New(memory.Config{HistorySize: 3, HistoryTTL: time.Hour}),
		Node: node.Config{
			NodeID: "short-history-node",
			Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000},
			API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
		},
	})
	proxy, front := newSwitchingProxy(t, n.Base)
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = [];
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 200 });
		window.news = h.subscribe('news', (m) => got.push(m.seq), { onRecoveryFailed: (i) => lost.push(i) });
		h.connect();
		return news.ready;
	})`)
	publishHTTP(t, n.Base, `{"topic":"news","data":1}`)
	p.wait(`h.transport === 'sse' && got.join() === '1'`)

	p.run(`h.close()`)
	proxy.blocked.Store(false)
	p.run(`h.connect(); news.ready`)
	// Live again, its resume answered: published before, 2 could fall out
	// of the node's 3 messages of history before the resume reads it.
	p.wait(`h.transport === 'websocket' && news.state === 'live'`)
	for i := 2; i <= 5; i++ {
		publishHTTP(t, n.Base, `{"topic":"news","data":`+itoa(i)+`}`)
	}
	p.wait(`got.join() === '1,2,3,4,5'`)

	p.run(`h.close()`)
	proxy.blocked.Store(true)
	p.run(`h.connect()`)
	p.wait(`h.transport === 'sse' && news.state === 'live'`)
	publishHTTP(t, n.Base, `{"topic":"news","data":6}`)
	p.wait(`got.join() === '1,2,3,4,5,6'`)
	if got := p.value(`JSON.stringify(lost)`); got != "[]" {
		t.Errorf("recovery failures: %s, want none: nothing was missed", got)
	}
	p.checkNoProblems()
}

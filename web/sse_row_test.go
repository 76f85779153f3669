package web

import (
	"net/http"
	"sync"
	"testing"
)

// scriptedProxy refuses the first upgrades it is asked for with a plain
// 502, holds unanswered the plain GET of /ws it is told to (the node,
// seen from the page, answered nothing), and passes everything else to
// the node.
type scriptedProxy struct {
	next           http.Handler
	refuseUpgrades int // how many upgrades to refuse, from the first
	holdGET        int // which plain GET of /ws to hold, from 1
	mu             sync.Mutex
	upgrades, gets int
}

func (p *scriptedProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	upgrade := isUpgrade(r)
	refuse, hold := false, false
	if upgrade {
		p.upgrades++
		refuse = p.upgrades <= p.refuseUpgrades
	} else if r.URL.Path == "/ws" {
		p.gets++
		hold = p.gets == p.holdGET
	}
	p.mu.Unlock()
	switch {
	case refuse:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case hold: // until the client gives up on it (options.timeout)
		<-r.Context().Done()
	default:
		p.next.ServeHTTP(w, r)
	}
}

// TestClientFallsBackToSSEOnlyOnTwoLooksInARow: an upgrade refused while
// the node answers plain HTTP looks like a network that blocks WebSocket
// once; an attempt whose node then answered nothing breaks the row, so a
// third such refusal, after it, is the first of a new row and the client
// stays on WebSocket, where it took it for the second and used SSE, which
// cannot publish, until close().
func TestClientFallsBackToSSEOnlyOnTwoLooksInARow(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	proxy := &scriptedProxy{refuseUpgrades: 3, holdGET: 2}
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		proxy.next = next
		return proxy
	})
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.h = new herald.Herald('/ws', { timeout: 500, minDelay: 20, maxDelay: 100, pingInterval: 0 });
		const sub = h.subscribe('news', () => {});
		h.connect();
		return sub.ready;
	})`)
	if tr := p.value(`h.transport`); tr != "websocket" {
		t.Errorf("transport %q, want websocket", tr)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if proxy.upgrades != 4 || proxy.gets != 3 {
		t.Errorf("%d upgrades and %d plain GETs, want 4 and 3", proxy.upgrades, proxy.gets)
	}
	p.checkNoProblems()
}

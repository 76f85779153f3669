package web

import (
	"context"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// TestClientInABackgroundTab: a page put in the background (its window
// minimized: hidden) through several of the node's heartbeats keeps its
// connection and gets the messages published meanwhile. Then frozen, as
// a browser freezes a tab left in the background (none of its timers or
// events runs; Chromium ends its WebSocket or stream then, "Page entered
// Back-Forward Cache"), through several heartbeats more: once the page is
// back, the client is connected again by itself and has delivered what
// was published meanwhile, each message once, in order, and recovered.
// The shared browser does not slow the timers of pages in the background:
// the freeze, which stops them all, stands for the most any slowing does.
func TestClientInABackgroundTab(t *testing.T) {
	t.Parallel()
	const heartbeat = time.Second
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID:    "real-node",
		Heartbeat: heartbeat,
		Broker:    broker.Config{MaxSubscriptions: 100, RateLimit: 1000},
		API:       api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	for _, transport := range []string{"websocket", "sse"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			topic := "news-" + transport
			p := newPage(t, n.Base+"/herald.js", `true`)
			p.run(`import('/herald.js').then((herald) => {
				window.got = []; window.states = []; window.lost = [];
				window.h = new herald.Herald('/ws', { transport: '` + transport + `', minDelay: 20, maxDelay: 100, timeout: 2000 });
				h.on('state', (s, info) => states.push(s + (info?.code ? ' ' + info.code : '')));
				const sub = h.subscribe('` + topic + `', (m) => got.push(m.data), { onRecoveryFailed: (info) => lost.push(info) });
				h.connect();
				return sub.ready;
			})`)
			publish := func(data string) {
				publishHTTP(t, n.Base, `{"topic":"`+topic+`","data":`+data+`}`)
			}
			publish("1")
			p.wait(`got.join() === '1'`)

			p.do(windowState(cdpbrowser.WindowStateMinimized))
			p.wait(`document.visibilityState === 'hidden'`)
			time.Sleep(3 * heartbeat) // past the two heartbeats of silence that close a connection
			publish("2")
			p.wait(`got.join() === '1,2'`)
			if got := p.value(`states.join()`); got != "connecting,connected" {
				t.Errorf("states in the background %q, want the first connection kept", got)
			}

			p.do(lifecycle(cdppage.SetWebLifecycleStateStateFrozen))
			time.Sleep(heartbeat)
			publish("3")
			time.Sleep(3 * heartbeat) // past the client's timeout (2 s) too
			p.do(lifecycle(cdppage.SetWebLifecycleStateStateActive), windowState(cdpbrowser.WindowStateNormal))
			p.wait(`document.visibilityState === 'visible' && got.join() === '1,2,3' && h.state === 'connected'`)
			publish("4")
			p.wait(`got.join() === '1,2,3,4'`)
			t.Logf("states: %s", p.value(`states.join()`))
			if n := p.value(`lost.length`); n != "0" {
				t.Errorf("recovery reported failed %s times after the freeze, want none", n)
			}
			p.checkNoProblems()
		})
	}
}

// lifecycle sets the page's web lifecycle state: frozen or active.
func lifecycle(state cdppage.SetWebLifecycleStateState) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.SetWebLifecycleState, cdppage.SetWebLifecycleStateParams{State: state})
		return err
	})
}

// windowState minimizes the page's window (the page is hidden), or
// brings it back.
func windowState(state cdpbrowser.WindowState) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		w, err := cdp.Call(ctx, tg, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, cdpbrowser.SetWindowBounds,
			cdpbrowser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &cdpbrowser.Bounds{WindowState: state}})
		return err
	})
}

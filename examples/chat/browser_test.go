package main

import (
	"context"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/web"
)

// chromium finds the browser: HERALD_CHROMIUM, or a usual name on PATH.
func chromium() (string, bool) {
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// poll waits until the JavaScript expression cond is true.
func poll(cond string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(15*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}
}

// eval runs js in the page.
func eval(js string) chromedp.Action[chromedp.Void] { return chromedp.Evaluate[chromedp.Void](js) }

// The chat page in a real browser: log in, the page's WebSocket gets in
// on the session cookie alone (the connect hook), a message goes round,
// and the secret room is refused by the subscribe hook.
func TestChatPageInABrowser(t *testing.T) {
	browser, ok := chromium()
	if !ok {
		t.Skip("SKIPPED: no Chromium (set HERALD_CHROMIUM)")
	}
	logs := &syncBuffer{}
	secret := []byte("browser-secret")
	a := newApp(config{Secret: secret, Log: log.New(logs, "", 0)})
	appSrv := httptest.NewServer(a)
	t.Cleanup(appSrv.Close)
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "chat-browser",
		Broker: broker.Config{PresenceTopics: []string{"chat.*"}},
		API:    api.Config{Files: web.Handler()}, // serves /herald.js
		Hooks: node.Hooks{
			ConnectURL: appSrv.URL + "/herald/connect", SubscribeURL: appSrv.URL + "/herald/subscribe",
			SubscribeTopics: []string{"chat.>"}, Secret: secret,
		},
	}})
	a.cfg.HeraldURL = n.Base // both on 127.0.0.1: the cookie reaches the node

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(browser), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	defer acancel()
	tab, tcancel := chromedp.NewContext(actx)
	defer tcancel()
	err := chromedp.Do(tab,
		chromedp.Navigate(appSrv.URL+"/"),
		// The login form's own post, without leaving the page mid-action.
		chromedp.Evaluate[chromedp.Void](`fetch('/login', {method: 'POST', body: new URLSearchParams({name: 'ann'})}).then(() => null)`,
			chromedp.EvalAwaitPromise),
		chromedp.Navigate(appSrv.URL+"/"),
		poll(`document.querySelector('#state')?.textContent === 'connected'`),
		poll(`document.querySelector('#members').textContent === 'ann'`),
		eval(`document.querySelector('#text').value = 'hello'; document.querySelector('#say').requestSubmit()`),
		poll(`document.querySelector('#log').textContent.includes('ann: hello')`),
		eval(`const r = document.querySelector('#room'); r.value = 'chat.secret'; r.dispatchEvent(new Event('change'))`),
		poll(`document.querySelector('#log').textContent.includes('forbidden')`),
	)
	if err != nil {
		page, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerHTML`))
		t.Fatalf("%v; the page:\n%s\nthe app's log:\n%s", err, page, logs)
	}
	if !strings.Contains(logs.String(), "is ann") || !strings.Contains(logs.String(), "ann may not join chat.secret") {
		t.Fatalf("the app's log:\n%s", logs)
	}
}

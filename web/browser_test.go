package web

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser the tests drive: HERALD_CHROMIUM, or the first
// of the usual names on PATH.
func chromium() (string, bool) {
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
		"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// browserTimeout bounds each browser test, start to end.
const browserTimeout = 45 * time.Second

// page is one headless Chromium tab, with what its page reported.
type page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // uncaught exceptions and security (CSP) errors
}

// newPage opens url in a tab of the shared Chromium, in a browser context
// of the test's own (so browser tests can run in parallel, each as a user
// of its own), and waits until ready, a JS expression, is true. The tab,
// and the browser context, close when the test ends or browserTimeout
// after the page was asked for.
func newPage(t *testing.T, url, ready string) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser(t), browserTimeout)
	t.Cleanup(cancel) // after the tab's own cleanup, which closes it
	return openTab(t, ctx, url, ready, chromedp.WithNewBrowserContext())
}

// openTab opens url in a new tab of the browser of p, which lives on, and
// waits until ready is true: a second page that shares the first one's
// browser, as a second tab of one user would.
func (p *page) openTab(url, ready string) *page {
	p.t.Helper()
	return openTab(p.t, p.ctx, url, ready)
}

// openTab opens a tab in the browser of parent, navigates it to url and
// waits until ready is true.
func openTab(t *testing.T, parent context.Context, url, ready string, opts ...chromedp.ContextOption) *page {
	t.Helper()
	bctx, bcancel := chromedp.NewContext(parent, opts...)
	p := &page{t: t, ctx: bctx}
	// Start the tab first, so the console sees the page from its first line.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		t.Fatalf("opening a tab: %v", err)
	}
	messages := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.observe(m)
		}
	}()
	t.Cleanup(func() { bcancel(); <-done })
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	p.wait(ready)
	return p
}

func (p *page) observe(m chromedp.ConsoleMessage) {
	p.t.Logf("browser %s", m)
	if m.IsException() || m.Source == "security" {
		p.mu.Lock()
		p.problems = append(p.problems, m.String())
		p.mu.Unlock()
	}
}

// checkNoProblems fails the test if the page threw or broke its policy.
func (p *page) checkNoProblems() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, problem := range p.problems {
		p.t.Errorf("page: %s", problem)
	}
}

// run evaluates js in the page, awaiting a promise it returns.
func (p *page) run(js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise)); err != nil {
		p.t.Fatalf("evaluating %s: %v", js, err)
	}
}

// wait polls the JS expression cond until it is true.
func (p *page) wait(cond string) {
	p.t.Helper()
	poll := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))
	if _, err := chromedp.Run(p.ctx, poll); err != nil {
		state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.got ?? null)`))
		p.t.Fatalf("waiting for %s: %v (window.got = %s)", cond, err, state)
	}
}

// value evaluates the expression js and returns its result (awaited, if a
// promise) as a string.
func (p *page) value(js string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`Promise.resolve(`+js+`).then(String)`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", js, err)
	}
	return s
}

// clickNow clicks the element selector finds, in one evaluation: for an
// element the page may render again at any moment (the dashboard's
// tables, redrawn at each poll), which chromedp.Click, finding the node
// and then pressing the mouse over it in separate calls, can lose
// between them ("Could not find node with given id").
func (p *page) clickNow(selector string) {
	p.t.Helper()
	p.run(`document.querySelector(` + strconv.Quote(selector) + `).click()`)
}

// do runs actions in the page.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("page actions: %v", err)
	}
}

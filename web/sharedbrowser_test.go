package web

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The package's browser tests open their pages in one Chromium, each test
// in a browser context of its own: its own cookies, storage, cache and
// connections, as a fresh profile has. A Chromium of each test's own took
// most of a short test's time to start (some 0.9 s of 1.1 s).
var shared struct {
	once    sync.Once
	browser *chromiumProcess
	err     error // why the browser did not start
	missing bool  // there is no Chromium to start
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.browser != nil {
		shared.browser.stop()
	}
	os.Exit(code)
}

// browser returns the context of the shared Chromium, started by the first
// test that asks; it skips the test when there is no Chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	shared.once.Do(func() {
		path, ok := chromium()
		if !ok {
			shared.missing = true
			return
		}
		shared.browser, shared.err = startChromium(path)
	})
	if shared.missing {
		// make test installs Chromium, or says loudly that it could not.
		t.Skip("SKIPPED: no Chromium to run browser tests in (Debian: apt-get install chromium; " +
			"or set HERALD_CHROMIUM to a Chromium or Chrome binary)")
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.browser.ctx
}

// chromiumProcess is a running Chromium.
type chromiumProcess struct {
	ctx     context.Context // the browser's first tab: cancelling it kills the browser
	dir     string          // its user data dir
	started bool            // it started, and may be closed
	stop    func()          // closes the browser and removes dir
}

// browserCloseTimeout bounds a browser's close; past it, it is killed.
const browserCloseTimeout = 10 * time.Second

// startChromium starts the Chromium at path, with the environment's and
// env's variables, to live until its stop: its context has no deadline,
// which would stop it, so the start is bounded here instead. Even when it
// fails, stop is to be called if the process is not nil.
func startChromium(path string, env ...string) (*chromiumProcess, error) {
	dir, err := os.MkdirTemp("", "herald-web-chromium-")
	if err != nil {
		return nil, fmt.Errorf("a user data dir for Chromium: %w", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Env(env...),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Tests run side by side, each in its own window: none of their
		// pages may have its timers slowed for not being in front.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &chromiumProcess{ctx: ctx, dir: dir}
	b.stop = func() {
		// Closed, not killed: a killed Chromium leaves its singleton
		// directory (org.chromium.Chromium.*) in TMPDIR, one a run.
		if b.started {
			closing, closed := context.WithTimeout(ctx, browserCloseTimeout)
			chromedp.Cancel(closing) // the kill below ends a browser that did not close
			closed()
		}
		cancel()
		acancel()
		os.RemoveAll(dir)
	}
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }() // ends at the start, or when stop cancels it
	select {
	case err = <-started:
	case <-time.After(browserTimeout):
		err = fmt.Errorf("not started in %v", browserTimeout)
	}
	if err != nil {
		return b, fmt.Errorf("starting Chromium: %w", err)
	}
	b.started = true
	return b, nil
}

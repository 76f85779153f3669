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
	ctx     context.Context // the browser's first tab: cancelling it stops the browser
	stop    func()          // stops the browser and removes its user data dir
	err     error           // why the browser did not start
	missing bool            // there is no Chromium to start
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// browser returns the context of the shared Chromium, started by the first
// test that asks; it skips the test when there is no Chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	shared.once.Do(startBrowser)
	if shared.missing {
		// make test installs Chromium, or says loudly that it could not.
		t.Skip("SKIPPED: no Chromium to run browser tests in (Debian: apt-get install chromium; " +
			"or set HERALD_CHROMIUM to a Chromium or Chrome binary)")
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ctx
}

// startBrowser starts the shared Chromium, for the whole test binary: its
// context has no deadline, which would stop it, so the start is bounded
// here instead.
func startBrowser() {
	path, ok := chromium()
	if !ok {
		shared.missing = true
		return
	}
	dir, err := os.MkdirTemp("", "herald-web-chromium-")
	if err != nil {
		shared.err = fmt.Errorf("a user data dir for Chromium: %w", err)
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
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
	shared.ctx = ctx
	shared.stop = func() {
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
		shared.err = fmt.Errorf("starting Chromium: %w", err)
	}
}

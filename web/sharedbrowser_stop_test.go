package web

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A Chromium started as the shared one is leaves nothing once stopped:
// no process of it, nothing in its TMPDIR, not its user data dir. One
// killed rather than closed left its singleton directory in TMPDIR.
func TestChromiumStopsWithoutLeftovers(t *testing.T) {
	t.Parallel()
	path, ok := chromium()
	if !ok {
		t.Skip("SKIPPED: no Chromium to run browser tests in")
	}
	tmp := t.TempDir()
	b, err := startChromium(path, "TMPDIR="+tmp)
	if err != nil {
		if b != nil {
			b.stop()
		}
		t.Fatal(err)
	}
	// A page in a browser context of its own, as each test has.
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		b.stop()
		t.Fatalf("opening a tab: %v", err)
	}
	cancel()
	b.stop()

	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("%s left in its TMPDIR", left[0].Name())
	}
	if _, err := os.Stat(b.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("its user data dir is still there (%v)", err)
	}
	// Its other processes may take a moment to follow the browser's.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		running := processesWithArg("--user-data-dir=" + b.dir)
		if len(running) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the browser still run 5 s after its stop", running)
		}
	}
}

// processesWithArg lists the processes that have arg on their command
// line, as /proc shows them (none where there is no /proc).
func processesWithArg(arg string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, f := range cmdlines {
		cmdline, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		for a := range bytes.SplitSeq(cmdline, []byte{0}) {
			if string(a) == arg {
				pids = append(pids, filepath.Base(filepath.Dir(f)))
				break
			}
		}
	}
	return pids
}

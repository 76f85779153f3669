package main

import (
	"context"
	"strings"
	"testing"
)

func runWith(t *testing.T, args []string, env map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a start that gets past its checks stops at once
	var out strings.Builder
	code := run(ctx, args, environOf(env), &out, &out, func() {})
	return code, out.String()
}

func TestRunBadSettingExits2(t *testing.T) {
	code, out := runWith(t, []string{"--max-queue-bytes=lots"}, nil)
	if code != exitBadSetting || !strings.Contains(out, "--max-queue-bytes") {
		t.Fatalf("exit %d, output %q", code, out)
	}
	code, out = runWith(t, nil, map[string]string{"HERALD_HEARTBEAT": "often"})
	if code != exitBadSetting || !strings.Contains(out, "HERALD_HEARTBEAT") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestRunPicksEngine(t *testing.T) {
	// Nothing listens on port 1; the redis engine starts anyway and keeps
	// trying, which is all this test needs to see it chosen.
	code, out := runWith(t, []string{"--addr=127.0.0.1:0"}, map[string]string{"HERALD_REDIS_URL": "redis://127.0.0.1:1/0"})
	if code != exitOK || !strings.Contains(out, `"cluster":true`) || !strings.Contains(out, `"logger":"redis"`) {
		t.Fatalf("redis: exit %d, output %q", code, out)
	}
	code, out = runWith(t, []string{"--addr=127.0.0.1:0"}, nil)
	if code != exitOK || !strings.Contains(out, `"cluster":false`) {
		t.Fatalf("memory: exit %d, output %q", code, out)
	}
}

func TestRunListenFailureNamesAddr(t *testing.T) {
	code, out := runWith(t, []string{"--addr=256.0.0.1:0", "--log-format=console"}, nil)
	if code != exitFailed || !strings.Contains(out, "HERALD_ADDR") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestRunStartsAndStops(t *testing.T) {
	code, out := runWith(t, []string{"--addr=127.0.0.1:0", "--node-id=n-test"}, nil)
	if code != exitOK {
		t.Fatalf("exit %d, output %q", code, out)
	}
	for _, want := range []string{"herald listening", "n-test", "no API keys", "no JWT key", "open-file limit", `"version":"` + buildVersion() + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestRunVersion(t *testing.T) {
	code, out := runWith(t, []string{"--version"}, map[string]string{"HERALD_HEARTBEAT": "often"})
	if code != exitOK || out != "herald "+buildVersion()+"\n" {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// A queue bound too small for one presence page is refused at start as
// a bad setting (exit 2, as for every bound of section 7), naming it,
// before anything listens.
func TestRunRefusesAQueueTooSmallForPresence(t *testing.T) {
	code, out := runWith(t, []string{"--addr=127.0.0.1:0", "--max-queue-bytes=4096"}, nil)
	if code != exitBadSetting || !strings.Contains(out, "--max-queue-bytes") || strings.Contains(out, "herald listening") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

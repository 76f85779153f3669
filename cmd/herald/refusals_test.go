package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// limitedLogger is a debug logger whose refusals pass through a limit of
// burst lines, refilled one an hour (not within a test), and whose
// suppressed counts are written only by close.
func limitedLogger(t *testing.T, burst int) (*zap.Logger, *refusalLimit, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	l := newRefusalLimit(burst, time.Hour, time.Hour)
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			l.close()
		}
	})
	return zap.New(core).WithOptions(zap.WrapCore(l.wrap)), l, logs
}

func suppressedLines(logs *observer.ObservedLogs) map[string]int64 {
	out := map[string]int64{}
	for _, e := range logs.FilterMessage(suppressedMessage).All() {
		out[e.LoggerName+" "+e.ContextMap()["kind"].(string)] += e.ContextMap()["suppressed"].(int64)
	}
	return out
}

func TestRefusalsAreLimitedPerKind(t *testing.T) {
	log, limit, logs := limitedLogger(t, 3)
	api := log.Named("api").Named("refusals").With(zap.String("node", "n1"))
	broker := log.Named("broker").Named("refusals")
	for range 10 {
		api.Info("refused: token", zap.String("client", "192.0.2.1"))
		api.Info("refused: origin")
		broker.Debug("refused: forbidden")
		log.Named("api").Info("not a refusal")
	}
	for msg, want := range map[string]int{"refused: token": 3, "refused: origin": 3, "refused: forbidden": 3, "not a refusal": 10} {
		if got := logs.FilterMessage(msg).Len(); got != want {
			t.Errorf("%d lines %q, want %d", got, msg, want)
		}
	}
	if n := logs.FilterMessage(suppressedMessage).Len(); n != 0 {
		t.Fatalf("%d suppressed counts written before their time", n)
	}
	limit.close()
	want := map[string]int64{"api.refusals refused: token": 7, "api.refusals refused: origin": 7, "broker.refusals refused: forbidden": 7}
	got := suppressedLines(logs)
	if len(got) != len(want) {
		t.Fatalf("suppressed counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("suppressed counts %v, want %v", got, want)
		}
	}
	// A count goes where its kind's lines go: same level, same fields.
	for _, e := range logs.FilterMessage(suppressedMessage).All() {
		kind := e.ContextMap()["kind"]
		if (kind == "refused: forbidden") != (e.Level == zapcore.DebugLevel) {
			t.Errorf("%v counted at %v", kind, e.Level)
		}
		if strings.HasPrefix(e.LoggerName, "api") && e.ContextMap()["node"] != "n1" {
			t.Errorf("the count lost the logger's fields: %v", e.ContextMap())
		}
	}
}

// A refusal below the log's level is not counted, and takes no token.
func TestRefusalsBelowTheLevelAreNotCounted(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := newRefusalLimit(1, time.Hour, time.Hour)
	log := zap.New(core).WithOptions(zap.WrapCore(l.wrap)).Named("refusals")
	for range 5 {
		log.Debug("refused: forbidden")
	}
	log.Info("refused: token")
	l.close()
	if logs.Len() != 1 || logs.All()[0].Message != "refused: token" {
		t.Fatalf("the log: %v", logs.All())
	}
}

// The bucket refills with time, and the counts are written every
// summary interval, each once.
func TestRefusalsRefillAndSummarise(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := newRefusalLimit(1, 200*time.Millisecond, 50*time.Millisecond)
	defer l.close()
	log := zap.New(core).WithOptions(zap.WrapCore(l.wrap)).Named("refusals")
	log.Info("refused: token")
	log.Info("refused: token") // suppressed
	time.Sleep(250 * time.Millisecond)
	log.Info("refused: token") // a token again
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessage(suppressedMessage).Len() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no suppressed count written: %v", logs.All())
		}
	}
	time.Sleep(120 * time.Millisecond) // two more intervals, with nothing to say
	if n := logs.FilterMessage("refused: token").Len(); n != 2 {
		t.Errorf("%d refusals logged, want 2", n)
	}
	if got := suppressedLines(logs); len(got) != 1 || got["refusals refused: token"] != 1 {
		t.Errorf("suppressed counts %v, want one of 1", got)
	}
}

// Through the whole process: a flood of bad API keys writes the burst and
// then, at the end, how many more there were.
func TestRunLimitsRefusals(t *testing.T) {
	base, logged, stop := startNode(t, map[string]string{"HERALD_API_KEYS": "k"})
	const flood = 3 * refusalBurst
	client := &http.Client{Timeout: 5 * time.Second}
	for range flood {
		resp, err := client.Get(base + "/api/stats")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	stop()
	out := logged()
	lines := strings.Count(out, `"msg":"refused: API key"`)
	// A token may come back during the flood on a slow machine.
	if lines < refusalBurst || lines > refusalBurst+2 {
		t.Fatalf("%d refusal lines for %d refusals, want about %d:\n%s", lines, flood, refusalBurst, out)
	}
	if !strings.Contains(out, `"msg":"`+suppressedMessage+`"`) || !strings.Contains(out, `"kind":"refused: API key"`) {
		t.Fatalf("no count of the suppressed refusals:\n%s", out)
	}
}

package broker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// loggedOnce waits for the one line msg and returns it.
func loggedOnce(t *testing.T, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessage(msg).Len() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q line: %v", msg, logs.All())
		}
	}
	entries := logs.FilterMessage(msg).All()
	if len(entries) != 1 {
		t.Fatalf("%d lines %q, want 1: %v", len(entries), msg, entries)
	}
	return entries[0]
}

// A forbidden command is a debug line of the refusals logger, with the
// client's address, its subject and the reason it was told.
func TestForbiddenIsLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	b, _ := newTestBroker(t, Config{Logger: zap.New(core)})
	c := connect(t, b, ClientInfo{RemoteAddr: "192.0.2.9", Subject: "u42", Perms: allowList{}})
	if r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"secret"}`); r["code"] != string(CodeForbidden) {
		t.Fatalf("%v", r)
	}
	e := loggedOnce(t, logs, refusedForbidden)
	f := e.ContextMap()
	if e.Level != zapcore.DebugLevel || e.LoggerName != "refusals" || f["client"] != "192.0.2.9" ||
		f["subject"] != "u42" || f["reason"] != `not allowed to subscribe to "secret"` {
		t.Fatalf("level %v, logger %q, fields %v", e.Level, e.LoggerName, f)
	}
}

// A close for too many failed commands is an info line with the client's
// address, the close code and the last failure.
func TestCloseForFailuresIsLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	b, _ := newTestBroker(t, Config{Logger: zap.New(core)})
	c := connect(t, b, ClientInfo{RemoteAddr: "192.0.2.9"})
	for range 2 * maxFailures { // the close is logged once, however many fail after it
		c.s.HandleText([]byte(`nope`))
	}
	c.waitFor(t, "close", func(_ []map[string]any, code int) bool { return code != 0 })
	for deadline := time.Now().Add(5 * time.Second); failures(c.s) < 2*maxFailures; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d commands failed, want %d", failures(c.s), 2*maxFailures)
		}
	}
	e := loggedOnce(t, logs, closedTooManyErrors)
	f := e.ContextMap()
	if e.Level != zapcore.InfoLevel || e.LoggerName != "refusals" || f["client"] != "192.0.2.9" ||
		f["code"] != int64(CloseTooManyErrors) || f["reason"] == "" {
		t.Fatalf("level %v, logger %q, fields %v", e.Level, e.LoggerName, f)
	}
	if _, ok := f["subject"]; ok {
		t.Fatalf("an anonymous client logged with a subject: %v", f)
	}
}

func failures(s *Session) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int32(s.failures)
}

// An engine error the client cannot act on is answered internal and
// logged once, with its cause, by the session that answered it.
func TestInternalErrorIsLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	b, e := newTestBroker(t, Config{Logger: zap.New(core)})
	e.mu.Lock()
	e.failPublish = errors.New("disk on fire")
	e.mu.Unlock()
	c := connect(t, b, ClientInfo{})
	if r := c.do(t, "1", `{"type":"publish","id":"1","topic":"a","data":1}`); r["type"] != "error" || r["code"] != string(CodeInternal) {
		t.Fatalf("publish with a broken engine: %v", r)
	}
	errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errs) != 1 || !strings.Contains(errs[0].ContextMap()["error"].(string), "disk on fire") {
		t.Fatalf("error lines %v, want one with the cause", errs)
	}
}

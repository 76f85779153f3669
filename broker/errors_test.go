package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestErrors(t *testing.T) {
	cause := errors.New("connection refused")
	err := Unavailable(cause)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || CodeOf(err) != CodeUnavailable {
		t.Errorf("Unavailable(cause) = %v", err)
	}
	if !strings.Contains(err.Error(), "connection refused") || !strings.HasPrefix(err.Error(), "herald/broker: unavailable") {
		t.Errorf("message %q", err.Error())
	}
	if CodeOf(cause) != CodeInternal || errors.Is(Errorf(CodeForbidden, "x"), ErrUnavailable) {
		t.Error("codes of other errors")
	}
	if got := Errorf(CodeForbidden, "no %s", "way").Error(); got != "herald/broker: forbidden: no way" {
		t.Errorf("Errorf: %q", got)
	}
}

// readyEngine is a fakeEngine with the optional ReadyChecker capability.
type readyEngine struct {
	*fakeEngine
	err error
}

func (e readyEngine) Ready(context.Context) error { return e.err }

func TestReady(t *testing.T) {
	plain, _ := newTestBroker(t, Config{})
	if err := plain.Ready(t.Context()); err != nil {
		t.Errorf("an engine without Ready: %v", err)
	}
	down := Unavailable(errors.New("down"))
	b := New(Config{}, readyEngine{newFakeEngine(), down})
	if err := b.Ready(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready = %v", err)
	}
	if err := b.Close(t.Context()); err != nil {
		t.Error(err)
	}
}

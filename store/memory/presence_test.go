package memory_test

import (
	"context"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/memory"
)

// reentrant is a Handler that calls the engine back from HandlePresence
// and HandleControl, as a broker answering a join with a presence read
// would.
type reentrant struct {
	e        *memory.Engine
	t        *testing.T
	sessions []int // what Presence answered inside each HandlePresence
	controls int
}

func (h *reentrant) HandleMessage(*broker.Message) {}
func (h *reentrant) HandleGap(broker.Gap)          {}
func (h *reentrant) HandlePresence(c broker.PresenceChange) {
	if c.Topic != "room" {
		return
	}
	st, err := h.e.Presence(context.Background(), c.Topic, broker.PresencePage{})
	if err != nil {
		h.t.Errorf("Presence inside HandlePresence: %v", err)
	}
	h.sessions = append(h.sessions, st.Sessions)
}
func (h *reentrant) HandleControl(broker.Control) {
	if err := h.e.AddPresence(context.Background(), broker.PresenceEntry{Topic: "ctl", Session: "s-ctl", User: "c"}); err != nil {
		h.t.Errorf("AddPresence inside HandleControl: %v", err)
	}
	h.controls++
}

// The Handler is called with no engine lock held: it may call the engine,
// and sees the change it is handed already applied.
func TestPresenceHandlerMayCallTheEngine(t *testing.T) {
	e := newEngine(t, memory.Config{})
	h := &reentrant{e: e, t: t}
	e.Attach(h)
	ctx := t.Context()
	p := broker.PresenceEntry{Topic: "room", Session: "s1", User: "u"}
	if err := e.AddPresence(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.RemovePresence(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.Control(ctx, broker.Control{Kind: broker.ControlDisconnect, User: "u"}); err != nil {
		t.Fatal(err)
	}
	if len(h.sessions) != 2 || h.sessions[0] != 1 || h.sessions[1] != 0 {
		t.Errorf("sessions seen inside HandlePresence: %v, want [1 0]", h.sessions)
	}
	if h.controls != 1 {
		t.Errorf("HandleControl called %d times, want 1", h.controls)
	}
	if st, _ := e.Presence(ctx, "ctl", broker.PresencePage{}); st.Sessions != 1 {
		t.Errorf("presence added from HandleControl: %+v", st)
	}
}

// A closed engine refuses presence calls as unavailable.
func TestPresenceAfterCloseIsUnavailable(t *testing.T) {
	e := memory.New(memory.Config{})
	if err := e.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := e.AddPresence(t.Context(), broker.PresenceEntry{Topic: "room", Session: "s1"})
	if broker.CodeOf(err) != broker.CodeUnavailable {
		t.Errorf("AddPresence after Close: %v, want unavailable", err)
	}
}

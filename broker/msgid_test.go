package broker

import (
	"testing"

	"github.com/google/uuid"
)

func TestNewMessageID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		s := newMessageID()
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			t.Fatalf("%q is not a UUID: %v", s, err)
		}
		if id.Version() != 4 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("%q: version %d, variant %v", s, id.Version(), id.Variant())
		}
		if seen[s] {
			t.Fatalf("%q twice", s)
		}
		seen[s] = true
	}
	if raceEnabled { // its instrumentation moves the bytes to the heap
		return
	}
	if n := testing.AllocsPerRun(100, func() { _ = newMessageID() }); n != 1 {
		t.Fatalf("%v allocations per id, want 1", n)
	}
}

package memory

import (
	"context"
	"testing"
	"time"
)

func TestStatsBoard(t *testing.T) {
	e, clock := testEngine(t, Config{})
	ctx := context.Background()
	read := func(max int) []string {
		t.Helper()
		got, err := e.ReadStats(ctx, max)
		if err != nil {
			t.Fatalf("ReadStats: %v", err)
		}
		var out []string
		for _, s := range got {
			out = append(out, string(s))
		}
		return out
	}
	posted := []byte(`{"node":"a"}`)
	if err := e.PostStats(ctx, "a", posted, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	posted[2] = 'X' // the board keeps its own copy
	e.PostStats(ctx, "b", []byte(`{"node":"b"}`), 5*time.Second)
	if got := read(10); len(got) != 2 || got[0] != `{"node":"a"}` || got[1] != `{"node":"b"}` {
		t.Fatalf("read %q, want a then b", got)
	}
	if got := read(1); len(got) != 1 || got[0] != `{"node":"a"}` {
		t.Fatalf("read at most 1 gave %q", got)
	}
	clock.advance(6 * time.Second)
	if got := read(10); len(got) != 1 || got[0] != `{"node":"a"}` {
		t.Fatalf("after b's ttl, read %q", got)
	}
	e.RemoveStats(ctx, "a")
	if got := read(10); len(got) != 0 {
		t.Fatalf("after a was removed, read %q", got)
	}
}

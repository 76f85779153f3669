//go:build linux

package netpoll

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestPollerReportsReadableWithGeneration(t *testing.T) {
	p, err := New(16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := p.Add(fds[0], 3, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	events, err := p.Wait(nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Key != 3 || events[0].Gen != 7 || !events[0].Readable {
		t.Fatalf("events = %+v", events)
	}
}

func TestPollerWakeCoalescesAndReturnsNoEvent(t *testing.T) {
	p, err := New(16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 3; i++ {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	events, err := p.Wait(nil, 1000)
	if err != nil || len(events) != 0 {
		t.Fatalf("events = %+v, err = %v", events, err)
	}
	if p.woken.Load() {
		t.Fatal("wake flag still set after the wake-up was drained")
	}
	// The eventfd was drained, so nothing more is pending.
	events, err = p.Wait(nil, 0)
	if err != nil || len(events) != 0 {
		t.Fatalf("second wait: events = %+v, err = %v", events, err)
	}
}

func TestPollerAddRejectsBadDescriptor(t *testing.T) {
	p, err := New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(-1, 0, 1); err == nil {
		t.Fatal("Add(-1) succeeded")
	}
}

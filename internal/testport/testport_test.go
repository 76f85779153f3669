package testport

import (
	"fmt"
	"net"
	"testing"
)

func TestFreePortsLieBelowTheEphemeralRangeAndBind(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		p, err := Free(1, 2, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p+10000 >= low {
			t.Fatalf("Free(1, 2, 10000) = %d: outside [%d, %d)", p, lowest, low-10000)
		}
		for _, d := range []int{0, 1, 2, 10000} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+d))
			if err != nil {
				t.Fatalf("port %d (offset %d) does not bind: %v", p+d, d, err)
			}
			l.Close()
		}
	}
}

func TestFreeSkipsAPortInUse(t *testing.T) {
	held := make([]net.Listener, 0, 50)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 50 {
		p, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("Free gave %d, which a listener of this test holds: %v", p, err)
		}
		held = append(held, l)
	}
}

func TestFreeRefusesOffsetsThatDoNotFit(t *testing.T) {
	if _, err := Free(ephemeralLow()); err == nil {
		t.Fatal("an offset as large as the ephemeral range's start gave a port")
	}
	if _, err := Free(-1); err == nil {
		t.Fatal("a negative offset gave a port")
	}
}

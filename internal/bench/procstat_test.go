package bench

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := []byte("42 (herald (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0")
	got, err := parseStatCPU(line)
	if err != nil || got != 3.0 {
		t.Errorf("got %v, %v; want 3.0 s (250+50 ticks)", got, err)
	}
	if _, err := parseStatCPU([]byte("42 (x) S 1 2")); err == nil {
		t.Errorf("short line accepted")
	}
	if _, err := parseStatCPU([]byte("no name")); err == nil {
		t.Errorf("line without name accepted")
	}
}

func TestErrKind(t *testing.T) {
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	cases := map[string]error{
		"close_4000":     &CloseError{Code: 4000},
		"eof":            ErrClosed,
		"bad_frame":      ErrFrame,
		"refused":        &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		"no_source_port": syscall.EADDRNOTAVAIL,
		"too_many_files": syscall.EMFILE,
		"timeout":        timeout,
		"handshake":      errors.New("handshake: server answered 401"),
		"http_503":       &StatusError{Code: 503},
		"server_error":   errServerError,
		"other":          context.Canceled,
	}
	for want, err := range cases {
		if got := errKind(err); got != want {
			t.Errorf("%v: kind %q, want %q", err, got, want)
		}
	}
}

package bench

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// errorKinds counts failures by phase and kind, such as "connect:refused".
type errorKinds struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errorKinds) add(phase string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[phase+":"+errKind(err)]++
}

func (e *errorKinds) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// errKind names an error briefly enough to count it.
func errKind(err error) string {
	var ce *CloseError
	var ne net.Error
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.Code)
	case errors.As(err, &ce):
		return "close_" + strconv.Itoa(ce.Code)
	case errors.Is(err, ErrClosed), errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, ErrFrame):
		return "bad_frame"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_source_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_files"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.HasPrefix(err.Error(), "handshake"):
		return "handshake"
	case errors.Is(err, errServerError):
		return "server_error"
	}
	return "other"
}

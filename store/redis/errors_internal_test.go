package redis

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestReplyCodeReadsScriptErrorsOfEveryRedis(t *testing.T) {
	cases := map[string]string{
		"OOM command not allowed when used memory > 'maxmemory'.":                                                                 "OOM",
		"READONLY You can't write against a read only replica. script: e684, on @user_script:12.":                                 "READONLY",
		"ERR Error running script (call to f_e684): @user_script:12: @user_script: 12: -OOM command not allowed when used memory": "OOM",
		"ERR wrong number of arguments":        "ERR",
		"BUSY Redis is busy running a script.": "BUSY",
	}
	for msg, want := range cases {
		if got := replyCode(msg); got != want {
			t.Errorf("replyCode(%q) = %q, want %q", msg, got, want)
		}
	}
}

// replyError is a Redis error reply, as go-redis hands it over.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// A publish is sent again only after an error by which it certainly did
// not run: never after its connection broke or timed out once written.
func TestOnlyCallsThatNeverRanAreSentAgain(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("publish: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{replyError("MOVED 3999 127.0.0.1:6381"), true},
		{replyError("ASK 3999 127.0.0.1:6381"), true},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{replyError("CLUSTERDOWN The cluster is down"), true},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{&net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false},
		{io.EOF, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, errNoTurn), false},
		{goredis.ErrClosed, false},
		{replyError("OOM command not allowed when used memory > 'maxmemory'."), false},
		{replyError("READONLY You can't write against a read only replica."), false},
	}
	for _, c := range cases {
		if got := neverRan(c.err); got != c.want {
			t.Errorf("neverRan(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

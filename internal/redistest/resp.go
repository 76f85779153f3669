package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The admin commands of the helpers go over this small RESP2 client: one
// connection per command, so a killed server costs no pool to clean.

// cmdTimeout bounds one admin command, connecting included.
const cmdTimeout = 2 * time.Second

// do sends one command to addr and returns its reply: a string (simple or
// bulk), an int64, nil, or a []any of those. A Redis error reply is an error.
func do(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, cmdTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(cmdTimeout))
	w := bufio.NewWriter(c)
	writeCommand(w, args)
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

// doString is do for a command whose reply is a string (INFO, CLUSTER INFO).
func doString(addr string, args ...string) (string, error) {
	r, err := do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := r.(string)
	if !ok {
		return "", fmt.Errorf("%s: %T reply, want a string", args[0], r)
	}
	return s, nil
}

func writeCommand(w *bufio.Writer, args []string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// replyError is a Redis error reply, such as "CLUSTERDOWN ...".
type replyError string

func (e replyError) Error() string { return "redis: " + string(e) }

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, replyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // $-1 is nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // *-1 is nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, errors.New("unknown reply type " + strconv.Quote(line[:1]))
}

// infoField finds "key:value" in an INFO or CLUSTER INFO reply.
func infoField(info, key string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), key+":"); ok {
			return v
		}
	}
	return ""
}

// pairs turns a flat [field, value, ...] reply (SENTINEL MASTER) into a map.
func pairs(r any) map[string]string {
	arr, _ := r.([]any)
	m := map[string]string{}
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		v, _ := arr[i+1].(string)
		m[k] = v
	}
	return m
}

// CommandCalls is how many times the Redis at addr ran command (in lower
// case, as INFO commandstats names it), the calls scripts made included.
func CommandCalls(t testing.TB, addr, command string) int {
	t.Helper()
	return commandStats(t, addr)[command]
}

// AllCommandCalls is how many commands the Redis at addr ran, the calls
// scripts made included, less the INFO calls that read it.
func AllCommandCalls(t testing.TB, addr string) int {
	t.Helper()
	n := 0
	for command, calls := range commandStats(t, addr) {
		if command != "info" {
			n += calls
		}
	}
	return n
}

// commandStats is INFO commandstats of the Redis at addr: the calls of
// each command it ran, by name.
func commandStats(t testing.TB, addr string) map[string]int {
	t.Helper()
	info, err := doString(addr, "INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats of %s: %v", addr, err)
	}
	stats := map[string]int{}
	for line := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		command, isStat := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isStat {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",") // calls=N,usec=...
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("INFO commandstats of %s: %s", addr, line)
		}
		stats[command] = n
	}
	return stats
}

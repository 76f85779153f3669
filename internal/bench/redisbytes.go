package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// redisBytesTimeout bounds one reading of the sockets' counters.
const redisBytesTimeout = 5 * time.Second

// redisBytesIn returns, for each of pids, the bytes its established TCP
// connections to addr have received so far: the kernel's bytes_received
// of each socket (struct tcp_info), as "ss -tinp" prints it. A
// connection opened between two readings counts from zero; one closed
// between them takes its bytes away.
func redisBytesIn(ctx context.Context, addr string, pids []int) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, redisBytesTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ss", "-tinpH", "state", "established", "dst", addr).Output()
	if err != nil {
		return nil, fmt.Errorf("herald/bench: ss, for the bytes read from %s: %w", addr, err)
	}
	return parseSocketBytes(out, pids), nil
}

// parseSocketBytes sums bytes_received by owner over ss -tinpH's output,
// where each socket's line, ending with users:(("name",pid=N,fd=M),...),
// is followed by an indented line of its TCP counters. Sockets of other
// processes are left out; every one of pids is in the result.
func parseSocketBytes(out []byte, pids []int) map[int]int64 {
	sums := make(map[int]int64, len(pids))
	for _, pid := range pids {
		sums[pid] = 0
	}
	owner := 0 // of the socket whose counters come next; 0: none of pids
	for _, line := range bytes.Split(out, []byte("\n")) {
		switch {
		case len(line) == 0:
		case line[0] != ' ' && line[0] != '\t':
			owner = ownerIn(line, sums)
		case owner != 0:
			n, _ := counter(line, "bytes_received:") // absent while 0
			sums[owner] += n
			owner = 0
		}
	}
	return sums
}

// ownerIn returns the first pid=N of line that is a key of sums, or 0.
func ownerIn(line []byte, sums map[int]int64) int {
	for rest := line; ; {
		i := bytes.Index(rest, []byte("pid="))
		if i < 0 {
			return 0
		}
		rest = rest[i+len("pid="):]
		end := bytes.IndexAny(rest, ",)")
		if end < 0 {
			return 0
		}
		pid, err := strconv.Atoi(string(rest[:end]))
		if _, ok := sums[pid]; err == nil && ok {
			return pid
		}
	}
}

// counter reads the number after name in a line of ss's counters.
func counter(line []byte, name string) (int64, bool) {
	i := bytes.Index(line, []byte(" "+name))
	if i < 0 {
		return 0, false
	}
	rest := line[i+1+len(name):]
	end := bytes.IndexAny(rest, " \t")
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

// Package testport picks loopback ports for the servers tests start as
// processes (herald, redis-server), which must be told a port before they
// bind it.
//
// A port the kernel handed out for ":0" and that was closed again lies in
// its ephemeral range, the same range it takes the local ports of outgoing
// connections from. With hundreds of client connections opened by tests
// running beside it, one of them can take that port before the server
// binds it ("address already in use"). The ports picked here lie below the
// ephemeral range, where the kernel never takes a port by itself.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// lowest is where picking starts, above the ports services commonly use.
const lowest = 10000

// ephemeralRange is read from where Linux keeps it; elsewhere, or when it
// cannot be read, the range IANA suggests is assumed.
const ephemeralRange = "/proc/sys/net/ipv4/ip_local_port_range"

// Free returns a port p such that p+d is free on 127.0.0.1 for every d in
// offsets, and for p itself. Free(1, 2) gives three consecutive ports,
// Free(10000) a Redis Cluster node's port and its bus port.
func Free(offsets ...int) (int, error) {
	span := 0
	for _, d := range offsets {
		if d < 0 {
			return 0, fmt.Errorf("testport: offset %d is negative", d)
		}
		span = max(span, d)
	}
	top := ephemeralLow() - span // p+span stays below the ephemeral range
	if top <= lowest {
		return 0, fmt.Errorf("testport: no room for offsets up to %d below the ephemeral range", span)
	}
	for range 200 {
		p := lowest + rand.IntN(top-lowest)
		if free(p) && allFree(p, offsets) {
			return p, nil
		}
	}
	return 0, errors.New("testport: no free port after 200 tries")
}

// Addr returns a free loopback address, "127.0.0.1:<port>".
func Addr() (string, error) {
	p, err := Free()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}

func allFree(p int, offsets []int) bool {
	for _, d := range offsets {
		if d != 0 && !free(p+d) {
			return false
		}
	}
	return true
}

func free(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	low, high := 49152, 65535
	if b, err := os.ReadFile(ephemeralRange); err == nil {
		fmt.Sscan(string(b), &low, &high)
	}
	return low
}

//go:build !unix

package transport

// setSndbuf and setRcvbuf leave the socket to the system's own sizing off
// Unix.
func setSndbuf(fd uintptr, n int) error { return nil }

func setRcvbuf(fd uintptr, n int) error { return nil }

//go:build !unix

package transport

// setSndbuf leaves the socket to the system's own sizing off Unix.
func setSndbuf(fd uintptr, n int) error { return nil }

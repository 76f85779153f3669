package transport

import (
	"testing"
	"unsafe"
)

// TestIdleConnIsSmall guards the transport's cost of an idle connection:
// its conn stays within the 128-byte size class of the Go allocator
// (runtime/sizeclasses.go; the next is 144), its write queue apart
// (outQueue) and nil while idle.
func TestIdleConnIsSmall(t *testing.T) {
	const sizeClass = 128
	if size := unsafe.Sizeof(conn{}); size > sizeClass {
		t.Errorf("conn is %d bytes, want at most %d", size, sizeClass)
	}
	if size := unsafe.Sizeof(outQueue{}); size > 96 {
		t.Errorf("outQueue is %d bytes, want at most 96", size)
	}
}

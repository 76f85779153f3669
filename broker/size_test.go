package broker

import (
	"testing"
	"unsafe"
)

// TestIdleSessionIsSmall guards the cost of an idle connection: a session
// and one subscription each stay within the 112-byte size class of the
// Go allocator (runtime/sizeclasses.go; the next is 128). What only some
// sessions need lives behind a pointer that is nil otherwise (Session).
func TestIdleSessionIsSmall(t *testing.T) {
	const sizeClass = 112
	session, sub := unsafe.Sizeof(Session{}), unsafe.Sizeof(subscription{})
	if session > sizeClass || sub > sizeClass {
		t.Errorf("session %d bytes, subscription %d bytes: want each at most %d", session, sub, sizeClass)
	}
	t.Logf("session %d bytes, subscription %d bytes", session, sub)
}

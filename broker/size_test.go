package broker

import (
	"testing"
	"unsafe"
)

// TestIdleSessionIsSmall guards the cost of an idle connection: a session
// and one subscription stay within a few hundred bytes.
func TestIdleSessionIsSmall(t *testing.T) {
	session, sub := unsafe.Sizeof(Session{}), unsafe.Sizeof(subscription{})
	if session+sub > 400 {
		t.Errorf("session %d + subscription %d bytes", session, sub)
	}
	t.Logf("session %d bytes, subscription %d bytes", session, sub)
}

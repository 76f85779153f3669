package limits

import (
	"testing"
	"unsafe"
)

// A connection keeps one Slot for its whole life, 16 bytes, which gives
// back once what the connection was counted for at accept (here its
// descriptor, as for a trusted proxy's) and at its upgrade (the client
// behind the proxy, per address): api keeps it inside the one object it
// keeps per connection.
func TestSlotTakesWhatAnotherHoldsAndGivesItBackOnce(t *testing.T) {
	if size := unsafe.Sizeof(Slot{}); size > 16 {
		t.Fatalf("a Slot is %d bytes, want at most 16", size)
	}
	l, _ := newLimiter(t, ConnConfig{MaxOpen: 5})
	files, err := NewOpenFiles(1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	accept := new(Slot)
	files.opened()
	accept.files.Store(files)
	own, _, ok := l.AcquirePaced(ipA)
	if !ok || !own.Holds() {
		t.Fatalf("AcquirePaced gave %v, %v; want a slot that holds ipA's place", own, ok)
	}

	var kept Slot
	kept.Take(accept)
	kept.Take(own)
	kept.Take(nil)
	if accept.Holds() || own.Holds() || !kept.Holds() {
		t.Fatalf("after Take: accept holds %v, own %v, kept %v; want kept alone", accept.Holds(), own.Holds(), kept.Holds())
	}
	accept.Release()
	own.Release()
	if files.Open() != 1 || l.Tracked() != 1 {
		t.Fatalf("%d descriptors, %d addresses counted: the slots taken from gave back what they no longer hold", files.Open(), l.Tracked())
	}
	kept.Release()
	kept.Release()
	if files.Open() != 0 || l.Tracked() != 0 {
		t.Fatalf("%d descriptors, %d addresses counted after release", files.Open(), l.Tracked())
	}
	var none *Slot
	if none.Holds() {
		t.Fatal("a nil Slot holds something")
	}
	none.Release()
}

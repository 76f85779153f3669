//go:build linux

package transport

import "testing"

func TestLoopIgnoresEventsOfAFormerDescriptorOwner(t *testing.T) {
	l := &loop{}
	old := &conn{fd: 9}
	l.insert(old)
	oldGen := old.gen
	l.conns[9] = nil // the descriptor was closed and its number reused
	cur := &conn{fd: 9}
	l.insert(cur)
	if got := l.lookup(9, oldGen); got != nil {
		t.Fatal("an event for the former owner reached the new connection")
	}
	if got := l.lookup(9, cur.gen); got != cur {
		t.Fatal("an event for the current connection was lost")
	}
	if got := l.lookup(100000, cur.gen); got != nil {
		t.Fatal("lookup beyond the table found a connection")
	}
}

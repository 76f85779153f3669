package broker

import (
	"container/heap"
	"slices"
	"unicode/utf8"
)

// A presence reply lists a page of the topic's members, not all of them
// (docs/protocol.md section 8): one user may hold up to 1 KiB of info, so
// a topic's whole list can be larger than a connection's write queue
// (HERALD_MAX_QUEUE_BYTES), and listing it would close the asker as a slow
// consumer for asking. A page is the members after a user, as many as fit
// in a byte budget; users and sessions still count the whole topic.

// DefaultMaxPresenceBytes is the budget of one presence page when the
// write queue's bound allows it (internal/node derives the budget from
// HERALD_MAX_QUEUE_BYTES: a quarter of it, at most this).
const DefaultMaxPresenceBytes = 256 << 10

// PresencePage is which members a presence read lists: the users that
// sort after After (byte order), in order, as long as their MemberBytes
// add up to at most MaxBytes. The first is listed whatever its size, so
// every page but the last moves on. MaxBytes <= 0 lists one member.
type PresencePage struct {
	After    string
	MaxBytes int
}

// memberOverhead is a member's bytes in a reply beyond its user and info:
// {"user":"","sessions":NNNNNNNNNN,"info":} and the comma before it.
const memberOverhead = 48

// MaxMemberBytes is the most MemberBytes of any member: a user of
// MaxUserBytes, every byte counted as 6, and MaxInfoBytes of info. A
// budget under it could not list a member without passing itself.
const MaxMemberBytes = memberOverhead + 6*MaxUserBytes + MaxInfoBytes

// MemberBytes is what a member counts toward PresencePage.MaxBytes: at
// least its bytes in a reply. A user's byte counts 1 when it is ASCII
// that JSON leaves as it is, and 6 otherwise: the writer escapes control
// bytes, quotes and backslashes (at most \u00XX, 6 bytes) and turns an
// invalid UTF-8 byte into \ufffd (6). The bytes of a valid non-ASCII
// character, written as they are, count 6 too: counting over is safe,
// and it spares decoding the user.
func MemberBytes(user string, info []byte) int {
	n := memberOverhead + len(info)
	for i := 0; i < len(user); i++ {
		if c := user[i]; c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			n++
		} else {
			n += 6
		}
	}
	return n
}

// MaxListed is the most members p can list: each counts at least
// memberOverhead+1 bytes. An engine that reads users in order reads at
// most one more, to tell whether more follow.
func (p PresencePage) MaxListed() int {
	return max(p.MaxBytes, 0)/(memberOverhead+1) + 1
}

// PageCandidates keeps, of the users offered to it, the first ones after
// the page's After, at most as many as the page can list: an engine that
// cannot read its users in order (store/memory) offers every one and
// reads only these, so that what one ask holds is bounded by the page,
// not by the topic. One that can (store/redis) reads MaxListed()+1.
type PageCandidates struct {
	page  PresencePage
	users userHeap // a max-heap: the largest kept is dropped first
	// Dropped: a user after After was not kept, so a page of the kept
	// ones is truncated even when they all fit.
	Dropped bool
}

// Candidates returns an empty PageCandidates for p.
func (p PresencePage) Candidates() *PageCandidates {
	return &PageCandidates{page: p}
}

// Offer considers user.
func (c *PageCandidates) Offer(user string) {
	if user <= c.page.After {
		return
	}
	if len(c.users) < c.page.MaxListed() {
		heap.Push(&c.users, user)
		return
	}
	c.Dropped = true
	if user < c.users[0] {
		c.users[0] = user
		heap.Fix(&c.users, 0)
	}
}

// Sorted returns the users kept, sorted.
func (c *PageCandidates) Sorted() []string {
	out := []string(c.users)
	slices.Sort(out)
	return out
}

type userHeap []string

func (h userHeap) Len() int           { return len(h) }
func (h userHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h userHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *userHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *userHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// PageFiller lists a page's members in the order they are added.
type PageFiller struct {
	page PresencePage
	used int
	// Members are the members listed; never nil.
	Members []Member
	// Truncated: a member was refused, the page is full.
	Truncated bool
}

// Filler returns an empty PageFiller for p.
func (p PresencePage) Filler() *PageFiller {
	return &PageFiller{page: p, Members: []Member{}}
}

// Add lists m, the next member in order, unless the page is full; it
// reports false when it is, and then every later member is left out too.
func (f *PageFiller) Add(m Member) bool {
	n := MemberBytes(m.User, m.Info)
	if f.Truncated || len(f.Members) > 0 && f.used+n > f.page.MaxBytes {
		f.Truncated = true
		return false
	}
	f.used += n
	f.Members = append(f.Members, m)
	return true
}

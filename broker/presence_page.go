package broker

import (
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
// memberOverhead+1 bytes. An engine reads users in order from After, at
// most one more than this, to tell whether more follow.
func (p PresencePage) MaxListed() int {
	return max(p.MaxBytes, 0)/(memberOverhead+1) + 1
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

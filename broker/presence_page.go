package broker

import (
	"context"
	"unicode/utf8"
)

// Presence reads: the presence command, the backend's read, and their
// replies. A presence reply lists a page of the topic's members, not all of them
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

// presence answers the presence command.
func (s *Session) presence(ctx context.Context, c *command) *Error {
	if !s.mayAskPresence(c.Topic) {
		return Errorf(CodeForbidden, "not allowed to subscribe to %q, so not to ask who is there", c.Topic)
	}
	ask := s.b.askingPresence(s, c.Topic)
	st, err := s.b.presencePage(ctx, c.Topic, PresencePage{After: c.After, MaxBytes: s.presenceBudget()})
	s.b.answered(ask, c.Topic, c.After, st, err == nil)
	if err != nil {
		return err.(*Error)
	}
	b := newFrame(96 + len(c.ID) + len(c.Topic) + presenceSize(st))
	b = append(b, `{"type":"presence"`...)
	b = appendID(b, c.echo())
	b = appendField(b, "topic", c.Topic)
	reply := finishFrame(append(appendPresenceState(b, st), '}'))
	// A page counts as a resume of its size does (replyCommandBytes):
	// a page of 256 KiB, read again and again, cost what many commands do.
	// Charged before it is sent, so that whoever has the answer finds it
	// paid for.
	s.chargeCommands(len(reply) / s.replyCommandBytes())
	s.send(reply)
	return nil
}

// presenceBudget is the members' budget of a presence reply to s: a page
// (Config.MaxPresenceBytes), and no more than fits beside what its
// connection has queued and not yet written, within what a resume may
// queue (Config.MaxResumeBytes, the write queue's bound less room for
// replies), so that an answer does not close its asker as a slow
// consumer, nor the node read a page from the engine for a client that
// reads nothing. Under 1 the page lists one member, which always comes.
func (s *Session) presenceBudget() int {
	budget := s.b.cfg.MaxPresenceBytes
	if q, ok := s.conn.(QueueLengther); ok && s.b.cfg.MaxResumeBytes > 0 {
		budget = min(budget, s.b.cfg.MaxResumeBytes-q.QueuedBytes())
	}
	return budget
}

// mayAskPresence reports whether the client may ask who is on topic: when
// it may subscribe to it; for a topic under the subscribe hook, only while
// it holds a subscription to it, which the hook accepted (or a backend
// made).
func (s *Session) mayAskPresence(topic string) bool {
	ask, replaces := s.b.asksHook(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ask && s.findLocked(topic) == nil {
		return false
	}
	perms := s.permsLocked()
	return replaces || perms == nil || perms.CanSubscribe(topic)
}

// Presence returns who is on topic, cluster-wide, for a backend or a
// client's command: the counts, and the members after the user after
// ("" from the first) that fit in one reply (Config.MaxPresenceBytes).
// Errors are *Error: invalid_topic for a pattern, presence_off for a
// topic that keeps no presence.
func (b *Broker) Presence(ctx context.Context, topic, after string) (PresenceState, error) {
	return b.presencePage(ctx, topic, PresencePage{After: after, MaxBytes: b.cfg.MaxPresenceBytes})
}

// PresenceCount returns how many users and sessions are on topic,
// reading a page of one member only. Errors are those of Presence.
func (b *Broker) PresenceCount(ctx context.Context, topic string) (users, sessions int, err error) {
	st, err := b.presencePage(ctx, topic, PresencePage{})
	return st.Users, st.Sessions, err
}

func (b *Broker) presencePage(ctx context.Context, topic string, page PresencePage) (PresenceState, error) {
	if err := topicError(topic); err != nil {
		return PresenceState{}, err
	}
	if !b.keepsPresence(topic) {
		return PresenceState{}, presenceOff(topic)
	}
	st, err := b.engine.Presence(ctx, topic, page)
	if err != nil {
		return PresenceState{}, b.replyError(err)
	}
	return st, nil
}

// AppendPresenceJSON appends the answer of GET /api/presence:
// {"topic","users","sessions","members"}, the presence command's reply
// without type and id.
func AppendPresenceJSON(dst []byte, topic string, st PresenceState) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, topic)
	return append(appendPresenceState(dst, st), '}')
}

// appendPresenceState appends ,"users":..,"sessions":..,"members":[...],
// and ,"truncated":true when members were left out. A member's info is
// the JSON object the engine keeps, checked on its way in (CheckClient);
// a member without one has no info field.
func appendPresenceState(b []byte, st PresenceState) []byte {
	b = appendUintField(b, "users", uint64(st.Users))
	b = appendUintField(b, "sessions", uint64(st.Sessions))
	b = append(b, `,"members":[`...)
	for i, m := range st.Members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"user":`...)
		b = appendJSONString(b, m.User)
		b = appendUintField(b, "sessions", uint64(m.Sessions))
		if len(m.Info) > 0 {
			b = append(b, `,"info":`...)
			b = append(b, m.Info...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if st.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	return b
}

// presenceSize is at least the bytes appendPresenceState writes.
func presenceSize(st PresenceState) int {
	n := 96
	for _, m := range st.Members {
		n += MemberBytes(m.User, m.Info)
	}
	return n
}

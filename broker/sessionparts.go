package broker

import "net/netip"

// The parts of a Session that only some sessions have, and the compact
// forms of what every session has (see Session).

// newIdentity returns what a session of info is known by, or nil for an
// anonymous one that no refresh can change: one without a token, on a
// node that takes no refresh (Config.Tokens nil).
func newIdentity(info ClientInfo, refreshable bool) *identity {
	if info.Subject == "" && len(info.Info) == 0 && info.Perms == nil && info.Expires.IsZero() && !refreshable {
		return nil
	}
	return &identity{subject: info.Subject, info: string(info.Info), perms: info.Perms}
}

// subject is the token's sub; empty when anonymous. Safe without mu.
func (s *Session) subject() string {
	if s.who == nil {
		return ""
	}
	return s.who.subject
}

// permsLocked is what the client may do; nil allows all. Called with mu held.
func (s *Session) permsLocked() Permissions {
	if s.who == nil {
		return nil
	}
	return s.who.perms
}

// infoLocked is the token's info claim; empty when none. Called with mu held.
func (s *Session) infoLocked() string {
	if s.who == nil {
		return ""
	}
	return s.who.info
}

// queuedLocked is how many jobs wait for the worker. Called with mu held.
func (s *Session) queuedLocked() int {
	if s.queue == nil {
		return 0
	}
	return len(s.queue.jobs)
}

// queuedBytesLocked is the size of the commands that wait. Called with mu held.
func (s *Session) queuedBytesLocked() int {
	if s.queue == nil {
		return 0
	}
	return s.queue.bytes
}

// clientAddr is a client's IP address in 16 bytes (IPv4 as IPv4-mapped
// IPv6), kept instead of the string the address came as, which would be
// one more small object per session; the zero value is none.
type clientAddr [16]byte

// parseClientAddr reads "ip" or "ip:port"; anything else is none.
func parseClientAddr(s string) clientAddr {
	if s == "" {
		return clientAddr{} // spares the parse errors' allocations
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return clientAddr{}
		}
		ip = ap.Addr()
	}
	return clientAddr(ip.As16())
}

// addr is the address as netip reads it: the zero Addr for none.
func (a clientAddr) addr() netip.Addr {
	if a == (clientAddr{}) {
		return netip.Addr{}
	}
	return netip.AddrFrom16(a).Unmap()
}

// String is the address as a log shows it: "" for none.
func (a clientAddr) String() string {
	if ip := a.addr(); ip.IsValid() {
		return ip.String()
	}
	return ""
}

// sessionExtra is what a session needs only for a while (Session.extra).
type sessionExtra struct {
	// pending holds, per topic whose subscribe waits for the subscribe
	// hook, that subscribe and then the commands of that topic that came
	// since (authorize.go); nil while none waits.
	pending map[string][]command
	// subs indexes the subscriptions of a session that holds many
	// (sublist.go); its map is nil otherwise.
	subs subIndex
}

// extraLocked is s.extra, made if s had none. Called with mu held.
func (s *Session) extraLocked() *sessionExtra {
	if s.extra == nil {
		s.extra = &sessionExtra{}
	}
	return s.extra
}

// trimExtraLocked drops s.extra once it holds nothing, so that an idle
// session keeps none. Called with mu held.
func (s *Session) trimExtraLocked() {
	if x := s.extra; x != nil && x.pending == nil && x.subs.before == nil {
		s.extra = nil
	}
}

// pendingLocked is the commands waiting for the subscribe hook, per
// topic (sessionExtra.pending); nil while none waits. Called with mu held.
func (s *Session) pendingLocked() map[string][]command {
	if s.extra == nil {
		return nil
	}
	return s.extra.pending
}

package limits

import (
	"net/netip"
	"sync"
	"time"

	"github.com/herald-broker/herald/transport"
)

// ConnLimiter counts the open connections of each address and meters its
// new ones with a token bucket. It is safe for concurrent use and starts
// no goroutine.
//
// Memory: an address is remembered while it has an open connection, or
// until its buckets (connections and commands, what it owes of its
// commands included) have had time to fill again after its last one
// closed; then it is forgotten, as it would be admitted exactly like a
// stranger. Forgotten sooner, an address whose command budget was empty,
// or that owed commands (a resume's, its last connection's close), had
// a full one back with its next connection.
// The table holds at most MaxTracked addresses. Past that, a new address
// makes the limiter forget the address idle longest (which then gets a
// full burst back early); when every address in the table holds a
// connection, new addresses are refused until one closes.
type ConnLimiter struct {
	cfg      ConnConfig
	refill   time.Duration // how long an empty bucket takes to fill, the longest of them
	commands *commandPace  // nil: no CommandRate

	mu      sync.Mutex
	entries map[netip.Addr]*entry
	idle    idleList // entries with no open connection, idle longest first
}

// NewConnLimiter checks cfg and builds the limiter.
func NewConnLimiter(cfg ConnConfig) (*ConnLimiter, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	l := &ConnLimiter{cfg: cfg, entries: make(map[netip.Addr]*entry)}
	if cfg.Rate > 0 {
		l.refill = time.Duration(float64(cfg.Burst) / cfg.Rate * float64(time.Second))
	}
	l.commands = newCommandPace(cfg.CommandRate, cfg.CommandBurst)
	if l.commands != nil {
		l.refill = max(l.refill, l.commands.refill())
	}
	return l, nil
}

// Enabled reports whether the limiter limits anything: a MaxOpen, a Rate,
// a CommandRate, QueueBytes, Subscriptions or ReadBytes.
func (l *ConnLimiter) Enabled() bool {
	return l.cfg.MaxOpen > 0 || l.cfg.Rate > 0 || l.perConnection()
}

// perConnection reports whether an address has budgets its connections
// share (a CommandRate, QueueBytes, Subscriptions, ReadBytes), kept
// while it holds one.
func (l *ConnLimiter) perConnection() bool {
	return l.commands != nil || l.cfg.QueueBytes > 0 || l.cfg.Subscriptions > 0 || l.cfg.ReadBytes > 0
}

// Acquire counts one new connection from ip. It refuses (false) when ip
// already holds MaxOpen connections, when it opens them faster than Rate
// allows, or when the table is full (see ConnLimiter). On success the
// caller calls release once the connection is closed; calling it again
// does nothing. The zero Addr (a peer that did not parse) is one address
// like any other.
func (l *ConnLimiter) Acquire(ip netip.Addr) (release func(), ok bool) {
	slot, _, ok := l.AcquirePaced(ip)
	return releaseOf(slot, ok)
}

// Hold is Acquire without the Rate: it counts a connection against
// MaxOpen only. The listener holds a slot from accept on, before the
// request is read, and the upgrade then Meters the same address, so that
// only WebSocket connections spend the connect rate.
func (l *ConnLimiter) Hold(ip netip.Addr) (release func(), ok bool) {
	return releaseOf(slotOf(l.take(ip, takeOpen)))
}

// slotOf is the Slot of what take returned: nil when it counted nothing
// to give back, or refused.
func slotOf(e *entry, ok bool) (*Slot, bool) {
	if e == nil {
		return nil, ok
	}
	s := new(Slot)
	s.perAddress.Store(e)
	return s, true
}

// releaseOf is the release func of slot.
func releaseOf(slot *Slot, ok bool) (release func(), _ bool) {
	if !ok {
		return nil, false
	}
	return slot.Release, true
}

// Meter is Acquire without MaxOpen: it takes one new connection from ip's
// Rate, and has nothing to release.
func (l *ConnLimiter) Meter(ip netip.Addr) bool {
	_, ok := l.take(ip, takeRate)
	return ok
}

// taking says which of an address's limits one admission spends.
type taking uint8

const (
	takeOpen taking = 1 << iota // one of MaxOpen, given back by release
	takeRate                    // one token of the Rate's bucket, never given back
)

// counts reports whether any limit that what spends is set. Open
// connections are counted for the budgets of perConnection too, even with
// no MaxOpen: the count is what keeps an address's budgets while it has
// a connection, and frees them with the last.
func (l *ConnLimiter) counts(what taking) bool {
	return what&takeOpen != 0 && (l.cfg.MaxOpen > 0 || l.perConnection()) || what&takeRate != 0 && l.cfg.Rate > 0
}

// take admits one connection from ip against the limits what names. It
// returns the entry to give back with releaseEntry when it counted one of
// MaxOpen, nil when it counted nothing to give back.
func (l *ConnLimiter) take(ip netip.Addr, what taking) (counted *entry, ok bool) {
	if !l.counts(what) {
		return nil, true
	}
	key := l.key(ip)
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetRefilled(now)
	e := l.entries[key]
	fresh := e == nil
	if fresh {
		if len(l.entries) >= l.cfg.MaxTracked && !l.forgetOldest() {
			return nil, false
		}
		e = &entry{limiter: l, key: key, tokens: float64(l.cfg.Burst), stamp: now}
		e.pace = l.commands
		e.queue = transport.NewAddressQueue(l.cfg.QueueBytes)
		e.reads = transport.NewAddressReads(l.cfg.ReadBytes)
		e.subscriptions.max = int64(l.cfg.Subscriptions)
	}
	if !l.admit(e, now, what) {
		return nil, false
	}
	if fresh {
		l.entries[key] = e
	}
	if what&takeOpen == 0 {
		l.spentWhileIdle(e, now)
		return nil, true
	}
	return e, true
}

// spentWhileIdle keeps an address that spent a token while it holds no
// connection until its bucket has filled again, as release does: last in
// the idle list, idle from now. l.mu is held.
func (l *ConnLimiter) spentWhileIdle(e *entry, now time.Time) {
	if e.open > 0 {
		return
	}
	if e.linked {
		l.idle.remove(e)
	}
	e.idleSince = now
	l.idle.pushBack(e)
}

// key is the table key of ip: IPv4 as is, IPv6 cut to its prefix.
func (l *ConnLimiter) key(ip netip.Addr) netip.Addr { return Group(ip, l.cfg.IPv6Prefix) }

// admit takes one connection for e if the limits what names allow. l.mu
// is held.
func (l *ConnLimiter) admit(e *entry, now time.Time, what taking) bool {
	open := what&takeOpen != 0
	if open && l.cfg.MaxOpen > 0 && e.open >= l.cfg.MaxOpen {
		return false
	}
	if what&takeRate != 0 && l.cfg.Rate > 0 {
		e.fill(now, l.cfg.Rate, float64(l.cfg.Burst))
		if e.tokens < 1 {
			return false
		}
		e.tokens--
	}
	if !open {
		return true
	}
	if e.open == 0 && e.linked {
		l.idle.remove(e)
	}
	e.open++
	return true
}

// releaseEntry gives back one connection of e that take counted; its
// caller calls it once.
func (l *ConnLimiter) releaseEntry(e *entry) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.release(e, now)
}

// release gives back one connection of e. An address left with no
// connection, full buckets and nothing owed is forgotten at once; one
// whose buckets are still filling waits in the idle list. l.mu is held.
func (l *ConnLimiter) release(e *entry, now time.Time) {
	e.open--
	if e.open > 0 {
		return
	}
	if l.cfg.Rate > 0 {
		e.fill(now, l.cfg.Rate, float64(l.cfg.Burst))
	}
	if (l.cfg.Rate == 0 || e.tokens >= float64(l.cfg.Burst)) && e.commandsFull(now.UnixNano()) {
		delete(l.entries, e.key)
		return
	}
	e.idleSince = now
	l.idle.pushBack(e)
}

// forgetRefilled forgets the addresses idle for long enough that their
// bucket is full again. The idle list is in idle order, so only its head
// is looked at. l.mu is held.
func (l *ConnLimiter) forgetRefilled(now time.Time) {
	for e := l.idle.head; e != nil && now.Sub(e.idleSince) >= l.refill; e = l.idle.head {
		l.idle.remove(e)
		delete(l.entries, e.key)
	}
}

// forgetOldest makes room in a full table by forgetting the address idle
// longest; false when every address holds a connection. l.mu is held.
func (l *ConnLimiter) forgetOldest() bool {
	e := l.idle.head
	if e == nil {
		return false
	}
	l.idle.remove(e)
	delete(l.entries, e.key)
	return true
}

// Open is how many connections of ip's address (its group, for IPv6)
// are open now.
func (l *ConnLimiter) Open(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[l.key(ip)]; e != nil {
		return e.open
	}
	return 0
}

// Tracked is how many addresses the limiter remembers now.
func (l *ConnLimiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

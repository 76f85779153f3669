//go:build linux

package transport

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/herald-broker/herald/broker"
)

// How a loop shares its turns among the connections that send. Each
// readable connection is read up to connReadBytes and connReadFrames a
// turn, and all of them together up to turnReadBytes and turnReadFrames,
// so that neither one connection nor a few make a turn long: the loop
// writes (flushPending) between turns, and what waits for that write is
// what the delivery lag measures (lag.go). Four connections sending tiny
// commands, read 128 KiB each per wake and answered one by one, held
// every publisher of the node in half the samples of a test. Frames are
// counted besides bytes because a command's cost is its own, not its
// size's: 32 KiB holds 4,096 commands of `{}`. A connection with more to
// read than its share is read again on a later turn: its socket is
// edge-triggered and will not be reported again for what it holds
// already, so the loop keeps it in waiting. Commands and pings are paced
// besides (pace.go): a connection whose pace ran out waits in the same
// list until the pace lets it go on.
const (
	readBufferSize = 64 << 10  // one per loop, shared by its connections
	connReadBytes  = 32 << 10  // a frame at the limit takes 4 turns
	connReadFrames = 128       // paced ones: commands and pings
	turnReadBytes  = 256 << 10 // 8 connections' shares
	turnReadFrames = 1024
)

// reading is what a loop keeps of a connection that sent paced frames
// lately or waits to be read on a later turn. Other connections have no
// entry: an idle one costs nothing here.
type reading struct {
	pace      broker.Bucket
	waiting   bool // on the loop's waiting list
	throttled bool // counted in Stats.Throttled since its pace was last whole
}

// waitingRead is a connection to read on a later turn, once at has come
// (its pace's resume; 0: the next turn).
type waitingRead struct {
	c  *conn
	at int64
}

// read reads c because its socket said it is readable, unless c waits
// for a later turn already: it is read from the list then, in its order.
func (l *loop) read(c *conn) {
	if rd := l.readers[c]; !rd.waiting {
		l.readNow(c, rd)
	}
}

// readNow parses the frames c's pace held back and then what its socket
// has, within c's share of the turn and its pace, and leaves c waiting
// when there may be more. rd is c's entry, which it stores back.
func (l *loop) readNow(c *conn, rd reading) {
	if c.isClosing() && c.closingReadOver() {
		l.readOver(c, rd)
		return
	}
	pace := &l.srv.lim.pace
	now := monoNow()
	if rd.pace.Full(now) {
		rd.throttled = false
	}
	allowed := pace.Budget(rd.pace, now)
	if allowed == 0 && c.isClosing() {
		allowed = anyFrames // read only to be dropped: the close must not wait for the pace
	}
	if allowed == 0 {
		l.throttle(c, rd, now)
		return
	}
	share := min(allowed, connReadFrames, l.turnFrames)
	if share == 0 || l.turnBytes <= 0 {
		l.wait(c, rd, 0)
		return
	}
	spent, drained := l.take(c, share)
	l.turnFrames -= spent
	pace.Spend(&rd.pace, now, spent)
	switch {
	case !c.live:
		// dropped: its entry went with it
	case spent >= allowed:
		l.throttle(c, rd, now)
	case spent >= share || !drained:
		l.wait(c, rd, 0)
	default:
		l.keep(c, rd, now)
	}
}

// readOver is readNow for c, closing, whose client is not read for its
// close any more (closingReadOver): past closingReadBytes, or past a
// header RFC 6455 forbids, after which no close of its can be seen. Once
// its close is complete it is read as a lingering socket is (dropDone),
// so that what its client sent after such a header is read on the next
// turn and its EOF ends it, as for a client that closed; otherwise only
// the lingering looks read it, 64 KiB each, up to a sweep's interval
// apart. Until its close is complete c is left unread: TCP holds its
// client back, and its close deadline ends it, or its client's reset
// (the event that says so).
func (l *loop) readOver(c *conn, rd reading) {
	if c.handshakeDone() {
		switch dropped, more := l.dropDone(c); {
		case dropped:
			return
		case more:
			l.wait(c, rd, 0)
			return
		}
	}
	if socketReset(int(c.fd)) {
		l.drop(c) // its client is gone, which no read of it says
		return
	}
	l.keep(c, rd, monoNow()) // stored back: an entry left waiting has its reads skipped (read)
}

// take parses the frames c's reader holds back, then reads c's socket
// until it is drained (or gone), c's share of the turn's bytes is read,
// or budget paced frames are parsed. It returns how many were.
func (l *loop) take(c *conn, budget int) (spent int, drained bool) {
	if c.holding() {
		var answered bool
		if spent, answered = c.readData(nil, budget); answered {
			_, more := l.dropDone(c) // the closing handshake is complete
			return spent, !more
		}
	}
	share := min(connReadBytes, l.turnBytes)
	for got := 0; spent < budget && got < share; {
		n, err := unix.Read(int(c.fd), l.buf[:min(len(l.buf), share-got)])
		switch {
		case n > 0:
			got += n
			l.turnBytes -= n
			parsed, answered := c.readData(l.buf[:n], budget-spent)
			spent += parsed
			if answered && c.closingReadSpent() && c.clientClosed() {
				l.drop(c) // this read took it past closingReadBytes after its close (dropDone)
				return spent, true
			}
			if answered {
				_, more := l.dropDone(c) // the closing handshake is complete
				return spent, !more
			}
			if c.isClosing() && c.closingReadOver() {
				return spent, true // read no more (closingReadBytes)
			}
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return spent, true
		}
		l.drop(c) // EOF or a socket error: the peer is gone
		return spent, true
	}
	return spent, false
}

// readEarly parses what c's client sent right after its upgrade request,
// paced as what a read brings.
func (l *loop) readEarly(c *conn, early []byte) {
	var rd reading
	now := monoNow()
	spent, answered := c.readData(early, l.srv.lim.pace.Budget(rd.pace, now))
	more := false
	if answered { // the closing handshake is complete
		var dropped bool
		if dropped, more = l.dropDone(c); dropped {
			return
		}
	}
	l.srv.lim.pace.Spend(&rd.pace, now, spent)
	switch {
	case c.holding():
		l.throttle(c, rd, now)
	case more:
		l.wait(c, rd, 0)
	default:
		l.keep(c, rd, now)
	}
}

// throttle leaves c unread until its pace allows a paced frame again; it
// counts c the first time since its pace was whole.
func (l *loop) throttle(c *conn, rd reading, now int64) {
	if !rd.throttled {
		rd.throttled = true
		l.srv.stats.throttledConn()
	}
	l.wait(c, rd, l.srv.lim.pace.ResumeAt(rd.pace))
}

// wait puts c on the waiting list, to be read once at has come.
func (l *loop) wait(c *conn, rd reading, at int64) {
	rd.waiting = true
	l.keepReading(c, rd)
	l.waiting = append(l.waiting, waitingRead{c: c, at: at})
	l.nextRead = min(l.nextRead, at)
}

// keep stores c's entry, or forgets it when it says nothing that a new
// entry would not.
func (l *loop) keep(c *conn, rd reading, now int64) {
	if !rd.waiting && rd.pace.Full(now) {
		delete(l.readers, c)
		return
	}
	l.keepReading(c, rd)
}

func (l *loop) keepReading(c *conn, rd reading) {
	if l.readers == nil {
		l.readers = make(map[*conn]reading)
	}
	l.readers[c] = rd
}

// readWaiting starts a turn: it reads the connections earlier turns left
// waiting whose time has come, in the order they began to wait, and keeps
// the others, noting in nextRead when the first of them is due.
func (l *loop) readWaiting(now int64) {
	l.turnBytes, l.turnFrames = turnReadBytes, turnReadFrames
	waiting := l.waiting
	l.waiting, l.spareWaiting = l.spareWaiting[:0], nil
	l.nextRead = maxTime
	for _, w := range waiting {
		switch {
		case !w.c.live:
			// dropped, its entry with it
		case w.at > now:
			l.waiting = append(l.waiting, w)
			l.nextRead = min(l.nextRead, w.at)
		default:
			rd := l.readers[w.c]
			rd.waiting = false
			l.readNow(w.c, rd)
		}
	}
	clear(waiting)
	l.spareWaiting = waiting[:0]
}

// maxTime is a monotonic time that never comes.
const maxTime = int64(1<<63 - 1)

// forgetReaders drops the entries that say nothing any more, and the map
// once it is empty: a burst of commands from many connections leaves no
// large map behind. The sweep calls it.
func (l *loop) forgetReaders(now int64) {
	for c, rd := range l.readers {
		if !rd.waiting && rd.pace.Full(now) {
			delete(l.readers, c)
		}
	}
	if len(l.readers) == 0 {
		l.readers = nil
	}
}

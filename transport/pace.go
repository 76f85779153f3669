package transport

import (
	"time"

	"github.com/herald-broker/herald/broker"
)

// Read pacing: how fast a connection's commands and pings are read. The
// broker answers a command over its rate with rate_limited and drops a
// ping over it, but each answer still costs the node a parse, a reply and
// a write: a client that sends tiny commands as fast as its socket takes
// them made a loop spend whole turns answering it, and the delivery lag of
// every publisher grew with them. So the transport parses a connection's
// paced frames (reader.go: commands and pings) at twice the broker's
// rate, in bursts of twice its burst, and leaves the rest unread: the
// socket's buffers fill and TCP holds the client back. A client that
// bursts past its rate still gets a rate_limited answer for each command
// read (300 at once with the default 100 a second and burst of 200: 200
// run, 100 answered rate_limited, nothing held); one that keeps sending
// faster costs the node twice its rate in commands, whatever it sends.
// Pongs, closes and the fragments before a message's last are not paced:
// they ask for no answer, and a subscriber must not be slowed for
// answering the server's pings (probe_linux.go).

// paceFactor is how much faster than the broker's command rate, and how
// much larger than its burst, paced frames are read.
const paceFactor = 2

// paceRate is the read pace every connection of a server keeps; a zero
// interval paces nothing.
type paceRate struct {
	interval int64 // nanoseconds a paced frame spends
	burst    int64 // nanoseconds of frames that may come at once
}

// newPaceRate paces frames at paceFactor times commandRate a second, in
// bursts of paceFactor times the broker's; commandRate <= 0 paces nothing.
func newPaceRate(commandRate int) paceRate {
	if commandRate <= 0 {
		return paceRate{}
	}
	interval := int64(time.Second) / int64(paceFactor*commandRate)
	if interval == 0 {
		return paceRate{}
	}
	return paceRate{interval: interval, burst: paceFactor * int64(broker.RateBurst(commandRate)) * interval}
}

// readPace is one connection's bucket of paced frames, a GCRA as the
// broker's rate limiter keeps: tat is when the bucket would be full again,
// in monoNow's clock.
type readPace struct{ tat int64 }

// budget is how many paced frames p allows at now.
func (r paceRate) budget(p readPace, now int64) int {
	if r.interval == 0 {
		return anyFrames
	}
	room := r.burst - (max(p.tat, now) - now)
	return int(max(room/r.interval, 0))
}

// spend charges p for n paced frames read at now.
func (r paceRate) spend(p *readPace, now int64, n int) {
	if r.interval != 0 && n > 0 {
		p.tat = max(p.tat, now) + int64(n)*r.interval
	}
}

// resumeAt is when p allows one paced frame again.
func (r paceRate) resumeAt(p readPace) int64 { return p.tat + r.interval - r.burst }

// full says whether p is back to its whole burst at now: a bucket in that
// state need not be kept.
func (p readPace) full(now int64) bool { return p.tat <= now }

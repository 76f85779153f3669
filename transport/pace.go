package transport

import "github.com/herald-broker/herald/broker"

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
// Pongs and the fragments before a message's last ask for no answer,
// and a subscriber must not be slowed for answering the server's pings
// (probe_linux.go): one in quietPerPace of them is paced (reader.go).
// Closes are not paced: one ends the reading.

// paceFactor is how much faster than the broker's command rate, and how
// much larger than its burst, paced frames are read.
const paceFactor = 2

// newPaceRate paces frames at paceFactor times commandRate a second, in
// bursts of paceFactor times the broker's; commandRate <= 0 paces nothing.
// A connection keeps its paced frames in a broker.Bucket of it.
func newPaceRate(commandRate int) broker.Rate {
	return broker.NewRate(paceFactor*commandRate, paceFactor*broker.RateBurst(commandRate))
}

package transport

import (
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// CloseCodes are the close codes counted one by one in Stats: those of
// docs/protocol.md section 6, plus the two RFC 6455 (section 7.4.1) reserves for
// reporting: 1005, a client's close frame without a code, and 1006, a
// connection gone without any close frame. Other codes count as 0.
var CloseCodes = [...]int{
	broker.CloseNormal, broker.CloseGoingAway, broker.CloseProtocolError, broker.CloseUnsupportedData,
	int(ws.StatusNoStatusRcvd), int(ws.StatusAbnormalClosure),
	broker.CloseInvalidPayload, broker.ClosePolicyViolation, broker.CloseMessageTooBig,
	broker.CloseSlowConsumer, broker.CloseTokenExpired, broker.CloseHeartbeatTimeout, broker.CloseTooManyErrors,
	broker.CloseDisconnected,
}

// Stats are the transport's counters since the server started.
type Stats struct {
	Connections int // WebSocket connections open now
	Streams     int // SSE streams open now
	// Closes has, for each side, one entry per code of CloseCodes and one
	// for the codes not listed (Code 0), zeros included, so that every
	// series exists from the start.
	Closes []CloseCount
	// DroppedFrames are frames that were queued for a client and thrown
	// away when its queue overflowed (close 4000): mostly messages, and
	// any replies or pings queued with them.
	DroppedFrames uint64
	// DeliveryLag is how long the oldest frame the event loops could be
	// writing has waited, now (lag.go).
	DeliveryLag time.Duration
	// ReaderLag is how far behind the subscribers' readers are, kernel
	// buffers included: the median round trip of the loops' probe pings
	// (probe_linux.go); 0 with too few readers sampled. DeliveryLag counts
	// it too.
	ReaderLag time.Duration
	// PublishWaits are publishes that Wait held back because delivery was
	// behind; PublishRefused those of them it gave up on (ErrOverloaded,
	// or the publisher's context ended): they were not published.
	PublishWaits, PublishRefused uint64
	// Throttled counts the times a connection sent commands and pings
	// faster than its read pace allows (pace.go) and was left unread until
	// the pace let it go on: once until its pace is whole again.
	Throttled uint64
}

// CloseCount is how many connections ended with Code, started by the
// client or by the server. The side that sends the first close frame
// started the close; a connection gone without one counts as the client's
// 1006. One connection counts once.
type CloseCount struct {
	Code     int // 0: a code not in CloseCodes
	ByClient bool
	Count    uint64
}

// counters are a server's, shared by its connections through limits. A
// nil *counters counts nothing (tests that build a bare conn).
type counters struct {
	// closes is indexed by [byClient][codeIndex(code)].
	closes  [2][len(CloseCodes) + 1]atomic.Uint64
	dropped atomic.Uint64

	publishWaits, publishRefused atomic.Uint64
	throttled                    atomic.Uint64
}

func codeIndex(code int) int {
	for i, c := range CloseCodes {
		if c == code {
			return i
		}
	}
	return len(CloseCodes)
}

func (s *counters) closed(byClient bool, code ws.StatusCode) {
	if s == nil {
		return
	}
	side := 0
	if byClient {
		side = 1
	}
	s.closes[side][codeIndex(int(code))].Add(1)
}

func (s *counters) throttledConn() {
	if s != nil {
		s.throttled.Add(1)
	}
}

func (s *counters) droppedFrames(n int) {
	if s != nil && n > 0 {
		s.dropped.Add(uint64(n))
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Connections:    s.Connections(),
		Streams:        s.Streams(),
		DroppedFrames:  s.stats.dropped.Load(),
		DeliveryLag:    s.DeliveryLag(),
		ReaderLag:      s.ReaderLag(),
		PublishWaits:   s.stats.publishWaits.Load(),
		PublishRefused: s.stats.publishRefused.Load(),
		Throttled:      s.stats.throttled.Load(),
		Closes:         make([]CloseCount, 0, 2*(len(CloseCodes)+1)),
	}
	for side, byClient := range []bool{false, true} {
		for i := range len(CloseCodes) + 1 {
			code := 0
			if i < len(CloseCodes) {
				code = CloseCodes[i]
			}
			n := s.stats.closes[side][i].Load()
			st.Closes = append(st.Closes, CloseCount{Code: code, ByClient: byClient, Count: n})
		}
	}
	return st
}

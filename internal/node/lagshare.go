package node

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/herald-broker/herald/transport"
)

// lagBoard is where the nodes of a cluster say that their delivery is
// behind, and on which topics (store/redis's lag board).
type lagBoard interface {
	// MarkBehind: this node, for ttl (0: no longer), busy delivering
	// topics (nil: all of them).
	MarkBehind(ctx context.Context, ttl time.Duration, topics []string) error
	// OthersBehind: what the other nodes behind deliver, all topics or
	// those listed; none behind: false and nil.
	OthersBehind(ctx context.Context) (all bool, topics []string, err error)
	// BehindTopicsLimit: the most topics MarkBehind takes as a list.
	BehindTopicsLimit() int
}

// deliveries counts what this node's fan-outs deliver, per topic (the
// broker).
type deliveries interface {
	MostDelivered(k int, share float64, kept []string) (topics []string, ok bool)
	RestartDeliveryCounts()
	DeliveryWindows() (current, previous uint64)
}

// A node behind lists the fewest topics that had coverShare of its
// recent deliveries (the last one to two windows of countTicks ticks: a
// bound's worth at least, as much as its backlog holds), when as many as
// the board takes (BehindTopicsLimit) suffice; otherwise its backlog
// comes from too many topics to list, and it says all. A publish to a
// topic it does not list adds little to its backlog (a quiet topic with
// a few subscribers there, or none), so other nodes do not hold it. The
// windows go on through a spell behind, so that a topic that cooled down
// leaves the list and one that became hot joins it; but a window closes
// then only once it counted half the frames of the one before: while its
// own publishers wait, a node delivers little, and what it delivers then
// (a quiet topic's trickle) is not what fills its backlog.
const (
	coverShare = 0.9
	countTicks = 8
)

// lagShare makes the delivery-lag bound hold across a cluster: a message
// published on one node is delivered on every node with subscribers, so
// publishers must wait for those nodes too, not only for their own. Each
// tick of the transport's own lag scan (an eighth of the bound, 12.5 ms at least), it tells
// the board whether this node is behind, for a few ticks, and which
// topics it is busy delivering: those it delivered most lately, or all.
// And it tells the transport which topics the other nodes behind
// deliver. It reads the others' word only
// while this node publishes (or they were behind at the last read): an
// idle node costs Redis nothing, and its first publish after a quiet
// spell is held back at most one tick late. A board that fails holds
// nobody back: the lag is not known then, and the publishes themselves
// meet the same failure.
type lagShare struct {
	board     lagBoard
	tr        lagTransport
	delivered deliveries
	listed    []string      // the topics this node said it is behind on lately; nil: none, or all
	listMax   int           // the most topics the board takes as a list
	published func() uint64 // messages published through this node so far
	tick      time.Duration
	log       *zap.Logger
	// ctx ends the board calls under way when close is called, so that a
	// Redis that does not answer does not hold the node's shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
}

// lagTransport is the transport's side of the bound: its own lag, and
// the hold of its publishers for the other nodes'.
type lagTransport interface {
	LagBound() time.Duration
	LagTick() time.Duration
	Behind() bool
	SetOthersBehind(transport.OthersBehind)
}

// minShareTick is the shortest tick of the sharing: at the default bound
// (30 ms) the transport's tick is 3.75 ms, and a publishing node would
// read the board 267 times a second; at 12.5 ms, as at a bound of 100 ms,
// it reads it 80 times, and a node behind is marked for 50 ms, which a
// moment's delay of this goroutine does not let lapse.
const minShareTick = 12500 * time.Microsecond

// shareLag starts sharing on board tr's lag and the topics it is behind
// on, as delivered counts them; nil when tr never holds publishers back.
func shareLag(board lagBoard, tr lagTransport, delivered deliveries, published func() uint64, log *zap.Logger) *lagShare {
	bound := tr.LagBound()
	if bound == 0 {
		return nil
	}
	s := &lagShare{board: board, tr: tr, delivered: delivered, listMax: board.BehindTopicsLimit(),
		published: published, tick: max(tr.LagTick(), minShareTick), log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s
}

func (s *lagShare) run() {
	defer close(s.done)
	t := time.NewTicker(s.tick)
	defer t.Stop()
	marked, failing, others := false, false, false
	counted := 0 // ticks since the delivery counts restarted
	seen := s.published()
	for {
		select {
		case <-s.stop:
			if marked { // the word would hold the others for a few ticks more
				ctx, cancel := context.WithTimeout(context.Background(), withdrawWithin)
				s.mark(ctx, 0, nil)
				cancel()
			}
			s.tr.SetOthersBehind(transport.OthersBehind{})
			return
		case <-t.C:
		}
		behind := s.tr.Behind()
		switch {
		case behind:
			marked = s.mark(s.ctx, 4*s.tick, s.busy()) || marked
		case marked:
			marked = !s.mark(s.ctx, 0, nil)
			s.listed = nil
		}
		if counted++; counted >= countTicks && (!behind || s.windowFull()) {
			s.delivered.RestartDeliveryCounts()
			counted = 0
		}
		now := s.published()
		if now == seen && !others {
			continue // nothing published here since the last tick: nobody to hold
		}
		seen = now
		all, topics, err := s.board.OthersBehind(s.ctx)
		if s.ctx.Err() != nil {
			continue // closing: the read was ended, Redis is not to blame
		}
		if err != nil && !failing {
			s.log.Warn("cannot read whether other nodes are behind; publishes do not wait for them", zap.Error(err))
		}
		failing = err != nil
		if failing {
			all, topics = false, nil
		}
		others = all || len(topics) > 0
		s.tr.SetOthersBehind(transport.OthersBehind{All: all, Topics: topics})
	}
}

// busy is the topics this node is busy delivering, as the board takes
// them: nil for all. The list of the tick before stays while it still
// covers the share, so that the board's copy is not rewritten for every
// small shift between topics.
func (s *lagShare) busy() []string {
	s.listed, _ = s.delivered.MostDelivered(s.listMax, coverShare, s.listed) // nil when they do not suffice
	return s.listed
}

// windowFull reports whether the current window of the counts counted
// half the frames of the window before, or more (and something).
func (s *lagShare) windowFull() bool {
	cur, prev := s.delivered.DeliveryWindows()
	return cur > 0 && cur >= prev/2
}

// mark tells the board that this node is behind for ttl (0: no longer),
// on topics (nil: all), and reports whether it took it.
func (s *lagShare) mark(ctx context.Context, ttl time.Duration, topics []string) bool {
	if err := s.board.MarkBehind(ctx, ttl, topics); err != nil {
		s.log.Debug("cannot say whether this node is behind", zap.Error(err))
		return false
	}
	return true
}

// withdrawWithin bounds the withdrawal of this node's word at close: past
// it the word expires by itself within a few ticks.
const withdrawWithin = 500 * time.Millisecond

// close stops the sharing and withdraws this node's word; nil is a no-op.
func (s *lagShare) close() {
	if s == nil {
		return
	}
	s.cancel()
	close(s.stop)
	<-s.done
}

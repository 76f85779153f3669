package api

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.uber.org/zap"
)

// StatsBoard is where the nodes of a cluster leave their stats for each
// other, so that any node's /api/stats shows them all: store/redis keeps
// it in Redis, store/memory (one node) in the process. The stats are
// opaque to the board.
type StatsBoard interface {
	// PostStats replaces node's stats; they are read until ttl passes.
	PostStats(ctx context.Context, node string, stats []byte, ttl time.Duration) error
	// ReadStats returns every node's unexpired stats, at most max.
	ReadStats(ctx context.Context, max int) ([][]byte, error)
	// RemoveStats forgets node's stats at once.
	RemoveStats(ctx context.Context, node string) error
}

// How the nodes share their stats: each posts every statsInterval, and
// its stats are kept for statsTTL, so a node that stops posting leaves
// the view within seconds. A node reads the board at most once per
// clusterCacheAge, however often /api/stats is asked.
const (
	statsInterval   = 3 * time.Second
	statsTTL        = 10 * time.Second
	clusterCacheAge = time.Second
	boardTimeout    = 2 * time.Second
	maxClusterNodes = 128     // nodes read from the board
	maxStatsBytes   = 1 << 20 // one node's stats; bigger ones are skipped
	maxClusterTopic = 200     // topics in the cluster view
	// maxPresenceCounts bounds the presence reads of one cluster view:
	// each reads the topic's members from the engine.
	maxPresenceCounts = 10
)

// statsSharer posts this node's stats on the board until stopped.
type statsSharer struct {
	board StatsBoard
	local *localStats
	log   *zap.Logger

	startOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	// posting is the context of every post, cancelled by shutdown, so
	// that a post under way ends at once instead of reaching the board
	// (the engine, closed right after) for up to boardTimeout more.
	posting       context.Context
	cancelPosting context.CancelFunc

	mu          sync.Mutex // held while the cluster view is read or used
	view        clusterStats
	viewAt      time.Time
	readFailing bool // the last board read failed: it was logged
}

func newStatsSharer(board StatsBoard, local *localStats, log *zap.Logger) *statsSharer {
	posting, cancel := context.WithCancel(context.Background())
	return &statsSharer{board: board, local: local, log: log,
		stop: make(chan struct{}), done: make(chan struct{}), posting: posting, cancelPosting: cancel}
}

// start posts now and then every statsInterval, on a goroutine that
// shutdown stops. Without a board it does nothing.
func (s *statsSharer) start() {
	if s.board == nil {
		return
	}
	s.startOnce.Do(func() { go s.run() })
}

func (s *statsSharer) run() {
	defer close(s.done)
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	failing := false
	for {
		err := s.post()
		if s.stopped() { // a post shutdown cancelled failed for no fault of the board
			return
		}
		if err != nil && !failing {
			s.log.Warn("cannot share this node's stats; other nodes' dashboards miss it", zap.Error(err))
		}
		failing = err != nil
		select {
		case <-t.C:
		case <-s.stop:
			return
		}
	}
}

func (s *statsSharer) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *statsSharer) post() error {
	st := s.local.collect(time.Now())
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.posting, boardTimeout)
	defer cancel()
	return s.board.PostStats(ctx, st.Node, b, statsTTL)
}

// shutdown stops posting, cancelling a post under way, and takes this
// node off the board, within ctx. A board that cannot be reached is only
// logged: the node's stats expire there by themselves.
func (s *statsSharer) shutdown(ctx context.Context) {
	if s.board == nil {
		return
	}
	started := true
	s.startOnce.Do(func() { started = false })
	if started {
		close(s.stop)
		s.cancelPosting()
		select {
		case <-s.done:
		case <-ctx.Done():
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, boardTimeout)
	defer cancel()
	if err := s.board.RemoveStats(ctx, s.local.b.Stats().Node); err != nil {
		s.log.Info("cannot take this node's stats off the board; they expire there", zap.Error(err))
	}
}

// cluster returns the view of every node: the board's, read at most once
// per clusterCacheAge, with this node's own stats fresh.
func (s *statsSharer) cluster(ctx context.Context) clusterStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.viewAt.IsZero() && now.Sub(s.viewAt) < clusterCacheAge {
		return s.view
	}
	// One deadline for the whole view, the board and the presence counts,
	// and not the asker's: others wait for this view and share it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), boardTimeout)
	defer cancel()
	own := s.local.collect(now)
	all := []sharedStats{own}
	var readErr string
	if s.board != nil {
		others, err := s.read(ctx)
		if err != nil {
			readErr = "the other nodes' stats cannot be read now: this node only"
			if !s.readFailing { // once per outage, not once a second
				s.log.Warn("cannot read the other nodes' stats", zap.Error(err))
			}
		}
		s.readFailing = err != nil
		for _, o := range others {
			if o.Node != own.Node {
				all = append(all, o)
			}
		}
	}
	s.view, s.viewAt = mergeStats(all), now
	s.view.Error = readErr
	s.countPresence(ctx, s.view.Topics)
	return s.view
}

// countPresence asks the engine who is on the first maxPresenceCounts
// topics that keep presence. A topic it cannot ask now shows no count.
func (s *statsSharer) countPresence(ctx context.Context, topics []clusterTopic) {
	b := s.local.b
	asked := 0
	for i := range topics {
		if asked == maxPresenceCounts {
			return
		}
		if !b.KeepsPresence(topics[i].Topic) {
			continue
		}
		asked++
		users, sessions, err := b.PresenceCount(ctx, topics[i].Topic)
		if err == nil {
			topics[i].Presence = &presenceCount{Users: users, Sessions: sessions}
		}
	}
}

// read decodes the board's stats, skipping any it cannot.
func (s *statsSharer) read(ctx context.Context) ([]sharedStats, error) {
	raw, err := s.board.ReadStats(ctx, maxClusterNodes)
	if err != nil {
		return nil, err
	}
	out := make([]sharedStats, 0, len(raw))
	for _, b := range raw {
		var st sharedStats
		if len(b) > maxStatsBytes || json.Unmarshal(b, &st) != nil || st.Node == "" {
			continue // a node of another version, or damage: not worth failing the view
		}
		out = append(out, st)
	}
	return out, nil
}

//go:build unix

package e2e

import (
	"testing"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12 on a Sentinel set (a master, its replica, three sentinels),
// two herald processes on it, the master SIGKILLed under what sections
// 2, 8-10 promise. Each subtest but the last starts the killed master
// again after, as the new master's replica, so the next finds a replica
// to promote.
func TestSpecSentinelFailovers(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	_, url := startHookBackend(t, 0)
	env := []string{"HERALD_REDIS_URL=" + s.URL(), "HERALD_CONNECT_URL=" + url + "/connect",
		"HERALD_HOOK_TIMEOUT=300ms", "HERALD_PRESENCE_TOPICS=room.*", "HERALD_HISTORY_SIZE=" + historySize}
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	servers := func() (master, replica *redistest.Node) {
		m := s.MasterAddr()
		for _, n := range s.Servers() {
			if n.Addr() == m {
				master = n
			} else {
				replica = n
			}
		}
		return master, replica
	}
	rejoin := func(master *redistest.Node) {
		master.RestartAsReplicaOf(s.MasterAddr())
		s.WaitSynced()
	}

	t.Run("StreamsAcrossAnOutage", func(t *testing.T) {
		master, replica := servers()
		defer rejoin(master)
		streamsAcrossAnOutage(t, a, b, "room.s", sentinelOutage(t, s, master, replica))
	})
	t.Run("PresenceThroughAnOutage", func(t *testing.T) {
		master, replica := servers()
		defer rejoin(master)
		presenceThroughAnOutage(t, a, b, "room.p", sentinelOutage(t, s, master, replica))
	})
	t.Run("ControlsRightAfterATakeover", func(t *testing.T) {
		controlsRightAfterATakeover(t, a, b, "room.c", func() { s.WaitFailover(s.KillMaster()) })
	})
}

// sentinelOutage is clusterOutage's like on s.
func sentinelOutage(t *testing.T, s *redistest.Sentinel, master, replica *redistest.Node) outage {
	return outage{
		cut:  func() { replica.Pause(); fillLink(t, master.Addr(), "filler") },
		kill: master.Kill,
		end: func() {
			replica.Resume()
			s.WaitFailover(master.Addr())
		},
	}
}

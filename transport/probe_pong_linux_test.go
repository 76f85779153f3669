//go:build linux

package transport

import (
	"encoding/binary"
	"testing"
	"time"
)

// Pongs whose payload the loop cannot have sent answer nothing: eight
// zero bytes (0 also stands for "no ping sent again" in a probe) and a
// time still to come neither answer a probe out nor unmark a connection
// that left one unanswered.
func TestForgedPongsAnswerNoProbe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload func(now int64) []byte
	}{
		{"zero", func(int64) []byte { return make([]byte, 8) }},
		{"future", func(now int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(now+int64(time.Hour))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, c, _ := pingPair(t)
			l.srv.lagCfg = newLagSettings(100 * time.Millisecond)
			keepBusy(&l.probes)
			queueFanned(c, []byte("\x81\x02hi"))
			l.flush(c) // c is now watched, its probe out; the peer reads nothing
			if len(l.probes.slots) != 1 || l.probes.slots[0].rtt != 0 {
				t.Fatal("setup: no probe out")
			}
			c.onPong(tc.payload(monoNow()))
			if rtt := l.probes.slots[0].rtt; rtt != 0 {
				t.Fatalf("a forged pong answered the probe (round trip %v)", time.Duration(rtt))
			}

			now := monoNow()
			deaf := &conn{live: true, deafToProbes: true}
			l.probes.missed[0] = missedProbe{c: deaf, sent: now - int64(2*time.Second), judged: true} // never pinged again: resent 0
			l.probeAnswered(deaf, tc.payload(now), now)
			if !deaf.deafToProbes {
				t.Fatal("a forged pong unmarked a connection that never answered its probe")
			}
		})
	}
}

// A connection marked for a probe it left unanswered while it is watched
// again is still heard: its answer to its current probe gives its round
// trip, unmarks it, and forgets the old probe, so that it is not marked
// again for it.
func TestMarkedWatchedConnectionIsHeard(t *testing.T) {
	ms := int64(time.Millisecond)
	watchFor, stall := 1000*ms, 1000*ms
	now := monoNow() + int64(time.Hour)
	c := &conn{live: true}
	l := &loop{}
	l.probes.missed[0] = missedProbe{c: c, sent: now - 1100*ms, resent: now - 1050*ms} // an earlier watch's probe, never answered
	l.probes.slots = []probe{{c: c, watched: now - 50*ms, sent: now - 20*ms}}          // watched again, its probe out
	l.probes.estimate(now, watchFor, stall)                                            // judges the earlier probe: marked
	if !c.deafToProbes {
		t.Fatal("setup: not marked")
	}
	l.probeAnswered(c, binary.BigEndian.AppendUint64(nil, uint64(now-20*ms)), now)
	if rtt := l.probes.slots[0].rtt; rtt == 0 || c.deafToProbes {
		t.Fatalf("the answer to its current probe: answered %v, marked %v; want answered, unmarked", rtt != 0, c.deafToProbes)
	}
	l.probes.estimate(now+10*ms, watchFor, stall)
	if c.deafToProbes {
		t.Fatal("marked again for the probe its answer superseded")
	}
}

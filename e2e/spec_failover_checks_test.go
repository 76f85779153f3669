package e2e

// The checks of the failover probes: what one subscription got, held
// against the publishes that were acknowledged.

import (
	"fmt"
	"strings"
	"testing"
)

// checkSeen holds what one subscription got against the acknowledged
// publishes from index from on: within an epoch seqs only grow (gaps
// included), no message comes twice, a message has the seq its publish
// was acknowledged with, and every acknowledged publish came, or was
// told: by a gap covering its seq, or by the epoch changing between the
// messages around it (section 2: a live subscription never skips a seq
// silently).
func checkSeen(t *testing.T, what string, acks []ack, got []seen, from int) {
	t.Helper()
	byMsg := map[string]ack{}
	for _, a := range acks {
		byMsg[a.msg] = a
	}
	top := map[string]uint64{}
	where := map[string]int{} // msg → index in got
	for k, s := range got {
		pos := s.seq
		if s.gap {
			pos = s.to
			if s.from <= top[s.epoch] || s.from > s.to {
				t.Errorf("%s: gap %d-%d in epoch %s after seq %d", what, s.from, s.to, s.epoch, top[s.epoch])
			}
		} else {
			if s.seq <= top[s.epoch] {
				t.Errorf("%s: seq %d in epoch %s after %d", what, s.seq, s.epoch, top[s.epoch])
			}
			if _, twice := where[s.msg]; twice {
				t.Errorf("%s: message %s (publish %d) twice", what, s.msg, s.i)
			}
			where[s.msg] = k
			if a, ok := byMsg[s.msg]; ok && a.seq != s.seq {
				t.Errorf("%s: publish %d acknowledged as seq %d came as seq %d", what, a.i, a.seq, s.seq)
			}
		}
		top[s.epoch] = max(top[s.epoch], pos)
	}
	last := 0
	for _, s := range got {
		if !s.gap {
			last = max(last, s.i)
		}
	}
	for _, a := range acks {
		if a.i < from || a.i > last {
			continue
		}
		if _, ok := where[a.msg]; ok {
			continue
		}
		if !told(got, a) {
			t.Errorf("%s: publish %d (seq %d, acknowledged) neither came nor was told by a gap or a new epoch", what, a.i, a.seq)
		}
	}
}

// told reports whether got tells of a's absence: a gap covering its seq
// or a change of epoch between the messages before and after it.
func told(got []seen, a ack) bool {
	prev, next := -1, len(got)
	for k, s := range got {
		if s.gap {
			continue
		}
		if s.i < a.i {
			prev = k
		} else if next == len(got) {
			next = k
		}
	}
	for k := prev + 1; k < next && k < len(got); k++ {
		if got[k].gap && got[k].from <= a.seq && a.seq <= got[k].to {
			return true
		}
	}
	return prev >= 0 && next < len(got) && got[prev].epoch != got[next].epoch
}

// oneMessagePerSeq fails when two watchers, or one, saw two messages at
// one seq of one epoch (section 12: a seq is never reused in an epoch).
func oneMessagePerSeq(t *testing.T, watched map[string][]seen) {
	t.Helper()
	at := map[string]string{}
	for what, got := range watched {
		for _, s := range got {
			if s.gap {
				continue
			}
			key := fmt.Sprintf("%s/%d", s.epoch, s.seq)
			if m, ok := at[key]; ok && m != s.msg {
				t.Errorf("%s: seq %d of epoch %s names %s and %s", what, s.seq, s.epoch, m, s.msg)
			}
			at[key] = s.msg
		}
	}
}

// runs writes what a watcher got as runs of publish indexes and seqs,
// "i1-i2 (epoch:seq1-seq2)", and gaps, for the log.
func runs(got []seen) string {
	var out []string
	for k := 0; k < len(got); {
		s := got[k]
		if s.gap {
			out = append(out, fmt.Sprintf("gap %s:%d-%d", s.epoch[:4], s.from, s.to))
			k++
			continue
		}
		j := k
		for j+1 < len(got) && !got[j+1].gap && got[j+1].i == got[j].i+1 && got[j+1].epoch == s.epoch && got[j+1].seq == got[j].seq+1 {
			j++
		}
		out = append(out, fmt.Sprintf("%d-%d (%s:%d-%d)", s.i, got[j].i, s.epoch[:4], s.seq, got[j].seq))
		k = j + 1
	}
	return strings.Join(out, ", ")
}

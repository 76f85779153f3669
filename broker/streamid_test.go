package broker

import (
	"strings"
	"testing"
)

func TestStreamIDRoundTrip(t *testing.T) {
	st := &stream{}
	for i, topic := range []string{"a", "chat.lobby", "user:42.inbox"} {
		sl := streamSlot{topic: topic, topicHash: idHash(topic)}
		sl.moveTo("epoch-"+topic, uint64(i)*1_000_000_007)
		st.slots = append(st.slots, sl)
	}
	st.count = 77
	line := string(st.appendID(nil))
	id, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n\n"), "id: ")
	if !ok {
		t.Fatalf("line %q", line)
	}
	entries, count, ok := parseStreamID(id)
	if !ok || count != 77 || len(entries) != 3 {
		t.Fatalf("parse %q: %v, %d entries, count %d", id, ok, len(entries), count)
	}
	sinces := resumeFromID(id, []string{"user:42.inbox", "other", "chat.*", "a"})
	if s := sinces[0]; s == nil || s.Seq != 2_000_000_014 || !s.inEpoch("epoch-user:42.inbox") || s.inEpoch("epoch-a") {
		t.Fatalf("user:42.inbox resumes from %+v", s)
	}
	if sinces[1] != nil || sinces[2] != nil {
		t.Fatalf("a topic not in the id, or a pattern, resumes: %+v %+v", sinces[1], sinces[2])
	}
	if s := sinces[3]; s == nil || s.Seq != 0 {
		t.Fatalf("a resumes from %+v", s)
	}
}

// TestStreamIDRefusesWhatItDidNotMake: anything but an id this package
// made, cut short, padded, of another version or too long, is no resume.
func TestStreamIDRefusesWhatItDidNotMake(t *testing.T) {
	good := "1.AAAAAABBBBBBC"
	if _, _, ok := parseStreamID(good); !ok {
		t.Fatalf("%q refused", good)
	}
	for _, id := range []string{
		"", "2.AAAAAABBBBBBC", "1.AAAAAABBBBBB", "1.AAAAAABBBBBBC.", "1.AAAAAABBBBBBC~",
		"1.AAAAAABBBBBB!", "1~A~B", "1.AAAAAABBBBBB" + strings.Repeat("A", maxSeqDigits+1),
		"1.AAAAAABBBBBB" + "_" + strings.Repeat("A", maxSeqDigits-1), // over 64 bits
		"1" + strings.Repeat(".AAAAAABBBBBBC", maxStreamTopics+1),
		strings.Repeat("1", maxStreamIDLen+1),
	} {
		if entries, _, ok := parseStreamID(id); ok {
			t.Errorf("%q parsed as %+v", id, entries)
		}
		if s := resumeFromID(id, []string{"a"}); s[0] != nil {
			t.Errorf("%q resumes %+v", id, s[0])
		}
	}
	if _, _, ok := parseStreamID("1" + strings.Repeat(".AAAAAABBBBBBC", maxStreamTopics)); !ok {
		t.Errorf("an id of %d entries refused", maxStreamTopics)
	}
}

// TestStreamIDTwoEntriesForOneTopicResumeNeither: a forged id naming a
// topic twice resumes it from neither.
func TestStreamIDTwoEntriesForOneTopicResumeNeither(t *testing.T) {
	e := func(seq uint64) string {
		return string(appendIDEntry(nil, idEntry{topic: idHash("a"), epoch: idHash("e"), seq: seq}))
	}
	if s := resumeFromID("1"+e(3)+e(9), []string{"a"}); s[0] != nil {
		t.Fatalf("resumes from %+v", s[0])
	}
}

func FuzzParseStreamID(f *testing.F) {
	f.Add("1.AAAAAABBBBBBC.CCCCCCDDDDDDE~F")
	f.Add("1")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		entries, _, ok := parseStreamID(id)
		_ = resumeFromID(id, []string{"a", "b.*"})
		if !ok {
			return
		}
		if len(entries) > maxStreamTopics || len(id) > maxStreamIDLen {
			t.Fatalf("%q: %d entries accepted", id, len(entries))
		}
	})
}

// A slot's seq never steps back within its epoch: a pattern can deliver a
// message from before the exact topic's start.
func TestStreamSlotSeqDoesNotStepBack(t *testing.T) {
	var sl streamSlot
	sl.moveTo("e1", 5)
	sl.moveTo("e1", 3)
	if sl.seq != 5 {
		t.Fatalf("seq %d after 5 then 3 in one epoch, want 5", sl.seq)
	}
	sl.moveTo("e2", 1)
	if sl.epoch != "e2" || sl.seq != 1 {
		t.Fatalf("after a new epoch: %s/%d, want e2/1", sl.epoch, sl.seq)
	}
}

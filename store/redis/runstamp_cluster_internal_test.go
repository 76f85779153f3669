package redis

import (
	"slices"
	"testing"
)

// TestOwnSlots reads the slots of the node flagged myself in CLUSTER
// NODES: ranges and single slots, not one it is importing, and one it is
// migrating away as it is in its ranges, named as leaving too.
func TestOwnSlots(t *testing.T) {
	nodes := "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected\n" +
		"67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 myself,master - 0 1426238316232 2 connected 5461-5463 7000 [5464-<-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca] [7000->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]\n" +
		"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 master - 0 0 1 connected 0-5460 5464\n"
	got, leaving, err := ownSlots(nodes)
	if want := []uint16{5461, 5462, 5463, 7000}; err != nil || !slices.Equal(got, want) || !slices.Equal(leaving, []uint16{7000}) {
		t.Errorf("ownSlots = %v, leaving %v, %v; want %v, leaving [7000]", got, leaving, err, want)
	}
	if got, _, err := ownSlots("e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected\n"); err != nil || len(got) != 0 {
		t.Errorf("ownSlots of a master without slots = %v, %v; want none", got, err)
	}
	for _, bad := range []string{"", "x 127.0.0.1:1@2 myself,master - 0 0 1 connected 16384\n", "x a myself,master - 0 0 1 connected 1-y\n"} {
		if got, _, err := ownSlots(bad); err == nil {
			t.Errorf("ownSlots(%q) = %v, want an error", bad, got)
		}
	}
}

// TestRunTagsLandInTheirSlots checks the run key of every slot against the
// slot its name hashes to, and the hash against Redis's own example.
func TestRunTagsLandInTheirSlots(t *testing.T) {
	if got := hashSlot("123456789"); got != 0x31C3 {
		t.Fatalf("hashSlot(123456789) = %#x, want 0x31c3 (CRC16 XMODEM)", got)
	}
	k := keys{prefix: "herald:"}
	for slot := range uint16(slotCount) {
		key := k.slotRun(slot)
		tag := key[len("herald:run{") : len(key)-1]
		if got := hashSlot(tag); got != slot {
			t.Fatalf("the run key of slot %d, %s, hashes to %d", slot, key, got)
		}
	}
}

package redis

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// Redis Cluster's hash slots, as the engine needs them to name a key in a
// given slot: the run key of each slot (see runstamp_cluster.go).

// slotCount is the number of Redis Cluster hash slots.
const slotCount = 16384

// crcTable is CRC16-CCITT (XMODEM: polynomial 0x1021, no reflection,
// initial 0), which Redis Cluster hashes keys with, a byte at a time.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// hashSlot is the slot of a key whose hash tag is tag (CLUSTER KEYSLOT of
// "{tag}"): a topic's keys have the topic for theirs.
func hashSlot[T string | []byte](tag T) uint16 {
	var c uint16
	for i := 0; i < len(tag); i++ {
		c = c<<8 ^ crcTable[byte(c>>8)^tag[i]]
	}
	return c % slotCount
}

// runTags gives, for each slot, the number whose base-36 text is the
// hash tag of the slot's run key: the first number counting from 0 that
// lands in the slot. Every node finds the same ones, whatever its
// release, so they all name the same key for a slot; the largest has four
// digits. Finding them takes about 4 ms, once per process, on Cluster
// only.
var runTags = sync.OnceValue(func() *[slotCount]uint32 {
	var tags [slotCount]uint32
	var found [slotCount]bool
	var buf [8]byte
	for n, left := uint32(0), slotCount; left > 0; n++ {
		s := hashSlot(strconv.AppendUint(buf[:0], uint64(n), 36))
		if !found[s] {
			found[s], tags[s] = true, n
			left--
		}
	}
	return &tags
})

// appendRunTag appends the hash tag of slot's run key to b.
func appendRunTag(b []byte, slot uint16) []byte {
	return strconv.AppendUint(b, uint64(runTags()[slot]), 36)
}

// movedAway reports a reply saying that the key's slot is not, or no
// longer wholly, the server's.
func movedAway(err error) bool {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return false
	}
	code := replyCode(reply.Error())
	return code == "MOVED" || code == "ASK"
}

// ownSlots reads, from CLUSTER NODES, the slots of the node that answered
// (flagged myself), and those of them it is migrating away. A slot being
// imported is not its own yet; one being migrated away still is, and is
// named in its ranges too.
func ownSlots(nodes string) (slots, leaving []uint16, err error) {
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		for _, r := range f[8:] {
			if migration, ok := strings.CutPrefix(r, "["); ok {
				if from, _, out := strings.Cut(migration, "->-"); out {
					slot, err := strconv.ParseUint(from, 10, 14)
					if err != nil {
						return nil, nil, fmt.Errorf("slot %q: %w", r, err)
					}
					leaving = append(leaving, uint16(slot))
				}
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			first, err1 := strconv.ParseUint(lo, 10, 14)
			last, err2 := strconv.ParseUint(hi, 10, 14)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, fmt.Errorf("slots %q: %w", r, err)
			}
			for slot := first; slot <= last; slot++ {
				slots = append(slots, uint16(slot))
			}
		}
		return slots, leaving, nil
	}
	return nil, nil, errors.New("no node is flagged myself")
}

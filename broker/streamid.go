package broker

// An SSE event id (docs/protocol.md section 10) is the stream's position
// in every exact topic it asked for, so that the last id a client saw
// resumes all of them on any node:
//
//	id    = "1" *( "." entry ) [ "~" count ]
//	entry = topic-hash epoch-hash seq
//
// topic-hash and epoch-hash are 36 bits of FNV-1a of the topic and of its
// epoch, six base64url digits each; seq is the last seq the stream got of
// that topic, in base64url digits, most significant first. count
// (base64url too) tells apart the events of topics that are not among the
// entries (pattern matches): it grows by one for each. An id is at most
// 1 + maxStreamTopics*24 + 12 bytes.
//
// The hashes keep the id short and fixed in size; their price is that a
// resume takes a new epoch for the old one when the two hash alike (one
// chance in 2^36 per epoch change), and two topics of one stream whose
// hashes collide are both started afresh.
const (
	streamIDVersion = '1'
	hashDigits      = 6  // base64url digits of a 36-bit hash
	maxSeqDigits    = 11 // base64url digits of a uint64
	maxStreamIDLen  = 1 + maxStreamTopics*(1+2*hashDigits+maxSeqDigits) + 1 + maxSeqDigits
)

// MaxStreamTopics is how many topic parameters one SSE stream may have.
const MaxStreamTopics = maxStreamTopics

const maxStreamTopics = 32

const idDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// idHash is 36 bits of the 64-bit FNV-1a hash of s.
func idHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h >> 28
}

// idEntry is one topic's position in an id.
type idEntry struct {
	topic, epoch uint64 // hashes
	seq          uint64
}

// appendIDEntry appends "." and e.
func appendIDEntry(b []byte, e idEntry) []byte {
	b = append(b, '.')
	b = appendFixedDigits(b, e.topic)
	b = appendFixedDigits(b, e.epoch)
	return appendSeqDigits(b, e.seq)
}

func appendFixedDigits(b []byte, h uint64) []byte {
	for i := hashDigits - 1; i >= 0; i-- {
		b = append(b, idDigits[(h>>(6*uint(i)))&63])
	}
	return b
}

// appendSeqDigits appends n in base64url digits, at least one.
func appendSeqDigits(b []byte, n uint64) []byte {
	var tmp [maxSeqDigits]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = idDigits[n&63]
		n >>= 6
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// digitValue is the value of a base64url digit, or -1.
func digitValue(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// parseDigits reads s as base64url digits; false when s is empty, too
// long for a uint64, or holds anything else.
func parseDigits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > maxSeqDigits || len(s) == maxSeqDigits && digitValue(s[0]) > 15 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := digitValue(s[i])
		if d < 0 {
			return 0, false
		}
		n = n<<6 | uint64(d)
	}
	return n, true
}

// parseStreamID reads an id this package made. A malformed one, or one
// of another version, gives ok false: the stream then starts afresh, as
// without an id (a forged id can only name positions, which a client may
// ask for anyway).
func parseStreamID(id string) (entries []idEntry, count uint64, ok bool) {
	if len(id) == 0 || len(id) > maxStreamIDLen || id[0] != streamIDVersion {
		return nil, 0, false
	}
	rest := id[1:]
	for len(rest) > 0 && rest[0] == '.' {
		end := 1
		for end < len(rest) && rest[end] != '.' && rest[end] != '~' {
			end++
		}
		e, ok := parseIDEntry(rest[1:end])
		if !ok || len(entries) == maxStreamTopics {
			return nil, 0, false
		}
		entries = append(entries, e)
		rest = rest[end:]
	}
	if len(rest) > 0 {
		if rest[0] != '~' {
			return nil, 0, false
		}
		if count, ok = parseDigits(rest[1:]); !ok {
			return nil, 0, false
		}
	}
	return entries, count, true
}

func parseIDEntry(s string) (idEntry, bool) {
	if len(s) <= 2*hashDigits {
		return idEntry{}, false
	}
	topic, ok1 := parseDigits(s[:hashDigits])
	epoch, ok2 := parseDigits(s[hashDigits : 2*hashDigits])
	seq, ok3 := parseDigits(s[2*hashDigits:])
	return idEntry{topic: topic, epoch: epoch, seq: seq}, ok1 && ok2 && ok3
}

// resumeFromID is where each of topics resumes according to id: a since
// for the topics it has one entry for, nil for the others (and for every
// topic when id is empty or malformed).
func resumeFromID(id string, topics []string) []*since {
	out := make([]*since, len(topics))
	entries, _, ok := parseStreamID(id)
	if !ok {
		return out
	}
	for i, t := range topics {
		if IsPattern(t) {
			continue
		}
		h := idHash(t)
		var found *idEntry
		for j := range entries {
			if entries[j].topic != h {
				continue
			}
			if found != nil { // two entries for one hash: trust neither
				found = nil
				break
			}
			found = &entries[j]
		}
		if found != nil {
			out[i] = &since{Seq: found.seq, epochHash: found.epoch, hashed: true}
		}
	}
	return out
}

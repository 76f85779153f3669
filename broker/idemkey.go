package broker

import (
	"crypto/sha256"
	"encoding/hex"
)

// MaxRawIdempotencyKey is the longest idempotency key an engine keeps as
// it is. A client may send a key as long as its whole message (twice
// HERALD_MAX_MESSAGE_BYTES over WebSocket); kept raw, each would hold that
// much of the engine's memory for five minutes, and a publisher with a new
// key per publish could fill Redis from one topic whose history is bounded.
const MaxRawIdempotencyKey = 64

// StoredIdempotencyKey is what an engine remembers key as: key itself up to
// MaxRawIdempotencyKey bytes, else its SHA-256 in hex and a mark, 65 bytes
// that no raw key can equal. Every engine, and every node of a cluster,
// names a key the same way, so a retry finds the first publish's result
// wherever it lands.
func StoredIdempotencyKey(key string) string {
	if len(key) <= MaxRawIdempotencyKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + "#"
}

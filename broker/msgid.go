package broker

import (
	"crypto/rand"

	"github.com/google/uuid"
)

// newMessageID returns a random (version 4) UUID in its string form, as
// uuid.NewString does, with one allocation, the string, instead of two:
// uuid.NewRandom reads its bytes through an io.Reader, which moves them to
// the heap, while crypto/rand.Read keeps them on the stack. Every publish
// takes one.
func newMessageID() string {
	var id uuid.UUID
	rand.Read(id[:])          // never fails: crypto/rand ends the program instead
	id[6] = id[6]&0x0f | 0x40 // version 4 (RFC 9562 section 5.4)
	id[8] = id[8]&0x3f | 0x80 // the variant of RFC 9562
	return id.String()
}

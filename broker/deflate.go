package broker

import (
	"bytes"
	"compress/flate"
	"sync"
)

// DefaultCompressMinBytes is the shortest JSON text compressed for a
// client that negotiated permessage-deflate (HERALD_COMPRESS_MIN_BYTES).
// A shorter message gains a few bytes at best, for a compression here and
// an inflate in the client.
const DefaultCompressMinBytes = 256

// deflateLevel is flate.BestSpeed: its encoder resets in constant time,
// where the other levels clear over 600 KB of hash tables for every
// message (no context takeover means a fresh state each), and on JSON it
// compresses nearly as well.
const deflateLevel = flate.BestSpeed

// deflateTail is what a sync flush ends with; RFC 7692 section 7.2.1 has
// the sender drop it and the receiver put it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflater is a compressor and its output buffer, pooled: a flate.Writer
// is over a megabyte (its hash tables), too much to build per message or
// keep per connection. The pool keeps one per busy P; one left unused
// through two collections is dropped.
type deflater struct {
	w   *flate.Writer
	out []byte // what w wrote since the last reset; reused
}

// deflate compresses p with a fresh state and a sync flush into d.out,
// its tail (deflateTail) kept, and reports whether that went well.
func (d *deflater) deflate(p []byte) bool {
	d.out = d.out[:0]
	d.w.Reset(d)
	if _, err := d.w.Write(p); err != nil {
		return false // writes to d cannot fail; be safe all the same
	}
	err := d.w.Flush()
	return err == nil && bytes.HasSuffix(d.out, deflateTail)
}

func (d *deflater) Write(p []byte) (int, error) {
	d.out = append(d.out, p...)
	return len(p), nil
}

var deflaters = sync.Pool{New: func() any {
	d := new(deflater)
	d.w, _ = flate.NewWriter(d, deflateLevel) // the level is valid: no error
	return d
}}

// maxPooledDeflateOut bounds the output buffer a pooled deflater keeps, so
// that one huge message does not pin its size in the pool.
const maxPooledDeflateOut = 64 << 10

// deflateFrame returns plain, a complete unmasked text frame of this
// package, as one permessage-deflate message (RFC 7692 section 7.2.1): its
// payload compressed with a fresh state (no context takeover, so that the
// same bytes suit every client) in a new frame with RSV1 set. It returns
// plain itself when min is not positive (compression off), the payload is
// shorter than min, or compressing would not make it shorter.
func deflateFrame(plain []byte, min int) []byte {
	payload := framePayload(plain)
	if min <= 0 || len(payload) < min {
		return plain
	}
	d := deflaters.Get().(*deflater)
	defer putDeflater(d)
	if !d.deflate(payload) {
		return plain
	}
	compressed := d.out[:len(d.out)-len(deflateTail)]
	if len(compressed) >= len(payload) {
		return plain
	}
	buf := append(newFrame(len(compressed)), compressed...)
	return finishFrameWith(buf, rsv1)
}

func putDeflater(d *deflater) {
	if cap(d.out) > maxPooledDeflateOut {
		d.out = nil
	}
	deflaters.Put(d)
}

package broker

import "bytes"

// A message a fan-out tags with several patterns is a different JSON text
// for each ("pattern" differs), and was compressed whole for each: 200
// connections of one client, each with a pattern of its own matching a
// topic, made every message of 60,000 characters to it cost 47 ms of
// node CPU (12 ms compressed as below), where 200 connections sharing
// one pattern share one compression. Its text is
// compressed in two parts instead: what comes up to the pattern, for each
// tag, and the rest (data included), once a fan-out. Each part is deflate
// with a fresh state ended by a sync flush, which ends on a byte boundary
// with an empty stored block, so the parts put one after another are one
// valid deflate stream whose back-references stay inside their own part
// (RFC 1951 sections 3.2.3 and 3.2.4); no context takeover (RFC 7692
// section 7.1.1.1) asks no more.

// messageRest is the part of one message's JSON text that every tag
// shares, compressed once a fan-out, the first time a tagged frame needs
// it. It lives for one fan-out, on one goroutine (fanoutScratch).
type messageRest struct {
	plain      []byte // appendMessageRest's text
	compressed []byte // plain deflated, sync flush tail included; nil until needed
	failed     bool   // compressing it failed: tags compress whole
	// deflated counts the bytes compressed in parts, rests and heads,
	// over the fan-outs of the scratch it is in (its reset keeps it),
	// which tests bound: a plain count on the fan-out's own memory.
	deflated int
}

// compressedFor returns the compressed rest of m, compressing it the
// first time; nil when that failed.
func (r *messageRest) compressedFor(m *Message) []byte {
	if r.compressed == nil && !r.failed {
		r.plain = appendMessageRest(nil, m)
		r.compressed = r.deflate(r.plain)
		r.failed = r.compressed == nil
	}
	return r.compressed
}

// deflate is deflateSync, counted in deflated.
func (r *messageRest) deflate(p []byte) []byte {
	r.deflated += len(p)
	return deflateSync(p)
}

// deflateMessageFrame is deflateFrame for plain, m's message frame tagged
// with a pattern, built from rest: its head compressed alone, then the
// rest's compressed text. It falls back to deflateFrame when plain does
// not end with the rest (a gap), or rest could not be compressed.
func deflateMessageFrame(plain []byte, min int, m *Message, rest *messageRest) []byte {
	payload := framePayload(plain)
	if min <= 0 || len(payload) < min {
		return plain
	}
	tail := rest.compressedFor(m)
	if tail == nil || !bytes.HasSuffix(payload, rest.plain) {
		return deflateFrame(plain, min)
	}
	head := rest.deflate(payload[:len(payload)-len(rest.plain)])
	if head == nil {
		return deflateFrame(plain, min)
	}
	n := len(head) + len(tail) - len(deflateTail)
	if n >= len(payload) {
		return plain
	}
	buf := append(newFrame(n), head...)
	buf = append(buf, tail[:len(tail)-len(deflateTail)]...)
	return finishFrameWith(buf, rsv1)
}

// deflateSync returns p deflated with a fresh state and a sync flush, its
// tail (deflateTail) kept, in a slice of its own; nil if that failed.
func deflateSync(p []byte) []byte {
	d := deflaters.Get().(*deflater)
	defer putDeflater(d)
	if !d.deflate(p) {
		return nil
	}
	return bytes.Clone(d.out)
}

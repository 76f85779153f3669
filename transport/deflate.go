package transport

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// deflateAnswer is the permessage-deflate the server accepts (RFC 7692):
// neither side keeps its LZ77 window from one message to the next.
// Section 7.1.1.1 lets a server add server_no_context_takeover to any
// offer, so that the broker compresses a message once for every client;
// section 7.1.1.2 lets it add client_no_context_takeover, so that a
// connection keeps no inflate window between messages and a pooled
// inflater serves them all.
var deflateAnswer = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}

// maxWindowBits is the LZ77 window compress/flate compresses with, 32 KiB.
const maxWindowBits = 15

// deflateNegotiation is one upgrade's permessage-deflate negotiation.
type deflateNegotiation struct {
	ext wsflate.Extension
}

func newDeflateNegotiation() *deflateNegotiation {
	return &deflateNegotiation{ext: wsflate.Extension{Parameters: deflateAnswer}}
}

// negotiate answers one offered extension. wsflate accepts the first
// permessage-deflate offer the answer fits and declines the rest (one
// asking for a server window under 15 bits: compress/flate always uses
// 32 KiB). An offer with a parameter that is unknown, repeated or out of
// range is declined too, not the handshake (RFC 7692 section 5.1). One
// asking for a window of 15 bits is what compress/flate uses: it is
// accepted, with server_max_window_bits=15 in the answer (section
// 7.1.2.1), as wsflate would decline it for an answer without.
func (n *deflateNegotiation) negotiate(opt httphead.Option) (httphead.Option, error) {
	n.ext.Parameters = deflateAnswer
	var offer wsflate.Parameters
	if offer.Parse(opt) == nil && offer.ServerMaxWindowBits == maxWindowBits {
		n.ext.Parameters.ServerMaxWindowBits = maxWindowBits
	}
	accept, err := n.ext.Negotiate(opt)
	if err != nil {
		return httphead.Option{}, nil
	}
	return accept, nil
}

// accepted reports whether the client's offer was accepted.
func (n *deflateNegotiation) accepted() bool {
	_, ok := n.ext.Accepted()
	return ok
}

// Errors of a compressed message, with the rule the client broke.
var (
	errCompressedBad    = &wireError{ErrInvalidCompressed, "compressed data is not valid deflate (RFC 7692 section 7.2.2)"}
	errCompressedTooBig = &wireError{ErrMessageTooBig, "message too big once inflated (RFC 7692 section 8)"}
)

// inflater inflates one compressed message at a time into a buffer of its
// own. Inflaters are pooled: with client_no_context_takeover a connection
// needs none between messages, and a flate reader is some 40 KB.
type inflater struct {
	src bytes.Reader
	r   *wsflate.Reader // over src; puts back the tail RFC 7692 section 7.2.1 drops
	out []byte
}

// resettingFlate adapts flate's reader to wsflate's ReadResetter, so
// that wsflate.Reader.Reset reuses it instead of building a new one.
type resettingFlate struct{ io.ReadCloser }

func (f resettingFlate) Reset(r io.Reader) {
	_ = f.ReadCloser.(flate.Resetter).Reset(r, nil) // never fails with a nil dict
}

func newFlateReader(r io.Reader) wsflate.Decompressor {
	return resettingFlate{flate.NewReader(r)}
}

var inflaters = sync.Pool{New: func() any {
	in := new(inflater)
	in.r = wsflate.NewReader(&in.src, newFlateReader)
	return in
}}

// maxPooledInflateOut bounds the buffer a pooled inflater keeps, so that
// one large message does not pin its size in the pool.
const maxPooledInflateOut = 64 << 10

// inflateMessage inflates p, a whole compressed message, and calls use
// with the result, which is valid only during the call. The inflated
// size is bounded by limit: past it the work stops and errCompressedTooBig
// is returned, so a message that inflates a thousandfold (a zip bomb)
// costs at most limit bytes of memory and the CPU to produce them.
func inflateMessage(p []byte, limit int64, use func([]byte) error) error {
	in := inflaters.Get().(*inflater)
	defer func() {
		if cap(in.out) > maxPooledInflateOut {
			in.out = nil
		}
		inflaters.Put(in)
	}()
	out, err := in.inflate(p, limit)
	if err != nil {
		return err
	}
	return use(out)
}

func (in *inflater) inflate(p []byte, limit int64) ([]byte, error) {
	in.src.Reset(p)
	in.r.Reset(&in.src)
	out := in.out[:0]
	for {
		if len(out) == cap(out) {
			grow := min(max(2*cap(out), 1024), int(limit)+1) - len(out)
			out = append(out, make([]byte, grow)...)[:len(out)]
		}
		n, err := in.r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		in.out = out
		switch {
		case int64(len(out)) > limit:
			return nil, errCompressedTooBig
		case errors.Is(err, io.EOF):
			return out, nil
		case err != nil:
			return nil, errCompressedBad
		}
	}
}

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// ErrFrame is wrapped by every framing violation the server commits.
var ErrFrame = errors.New("herald/bench: bad frame from server")

// maxFrame bounds how much one frame may make us buffer.
const maxFrame = 16 << 20

// headerReader parses server frame headers out of bytes already read, with
// gobwas/ws's ReadHeaderBuffer and CheckHeader, allocating nothing: its
// reader and the scratch buffer ReadHeaderBuffer wants live in it (the
// connection's, so nothing escapes per call). Going through an io.Reader
// costs about 35 ns a header over decoding the bytes in place (4 ns), some
// 55 ns of BenchmarkReadDelivery's 260: the price of the library's tested
// parse and checks instead of our own.
type headerReader struct {
	r   bytes.Reader
	buf [ws.MaxHeaderSize - 2]byte
}

// parse reads the server frame header at the start of b (RFC 6455 section
// 5.2) and checks it as a client does, inside a fragmented message or not
// (section 5.4). It returns the header and its size, or size 0 when b does
// not hold the whole header yet.
func (p *headerReader) parse(b []byte, fragmented bool) (ws.Header, int, error) {
	p.r.Reset(b)
	h, err := ws.ReadHeaderBuffer(&p.r, p.buf[:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return ws.Header{}, 0, nil // a part of it may be read: none of it counts
	case err != nil:
		return h, 0, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	state := ws.StateClientSide
	if fragmented {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return h, 0, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if h.Length > maxFrame {
		return h, 0, fmt.Errorf("%w: length %d over %d", ErrFrame, h.Length, maxFrame)
	}
	return h, len(b) - p.r.Len(), nil
}

// frameWriter encodes client frames into a buffer it reuses.
type frameWriter struct {
	buf bytes.Buffer
	hdr [ws.MaxHeaderSize]byte // WriteHeaderBuffer's scratch
}

// frame encodes one final client frame of op holding payload, masked with
// a fresh key (RFC 6455 section 5.3). The bytes are valid until the next
// call.
func (f *frameWriter) frame(op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	f.buf.Reset()
	_ = ws.WriteHeaderBuffer(&f.buf, h, f.hdr[:]) // fails only on a length over 2^63
	start := f.buf.Len()
	f.buf.Write(payload)
	ws.Cipher(f.buf.Bytes()[start:], h.Mask, 0)
	return f.buf.Bytes()
}

// closeCode reads the status code of a close frame's payload; 1005 when it
// has none (RFC 6455 section 7.1.5).
func closeCode(payload []byte) ws.StatusCode {
	code, _ := ws.ParseCloseFrameDataUnsafe(payload) // the reason is not read
	if code.Empty() {
		return ws.StatusNoStatusRcvd
	}
	return code
}

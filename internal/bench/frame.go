package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// ErrFrame is wrapped by every framing violation the server commits.
var ErrFrame = errors.New("herald/bench: bad frame from server")

// frameHeader is what one server frame's header says.
type frameHeader struct {
	fin    bool
	opcode byte
	length int
}

// maxFrame bounds how much one frame may make us buffer.
const maxFrame = 16 << 20

// parseHeader reads a server frame header at the start of b. It returns the
// header and its size, or size 0 when b does not hold the whole header yet.
// Server frames are never masked (RFC 6455 section 5.1).
func parseHeader(b []byte) (frameHeader, int, error) {
	if len(b) < 2 {
		return frameHeader{}, 0, nil
	}
	h := frameHeader{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0F}
	if b[0]&0x70 != 0 {
		return h, 0, fmt.Errorf("%w: RSV bits set", ErrFrame)
	}
	if b[1]&0x80 != 0 {
		return h, 0, fmt.Errorf("%w: masked", ErrFrame)
	}
	if err := checkOpcode(h); err != nil {
		return h, 0, err
	}
	n, size := int(b[1]&0x7F), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		n, size = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		n64 := binary.BigEndian.Uint64(b[2:])
		if n64 > maxFrame {
			return h, 0, fmt.Errorf("%w: length %d over %d", ErrFrame, n64, maxFrame)
		}
		n, size = int(n64), 10
	}
	if h.opcode >= opClose && n > 125 {
		return h, 0, fmt.Errorf("%w: control frame of %d bytes", ErrFrame, n)
	}
	h.length = n
	return h, size, nil
}

func checkOpcode(h frameHeader) error {
	switch h.opcode {
	case opContinuation, opText, opBinary:
		return nil
	case opClose, opPing, opPong:
		if !h.fin {
			return fmt.Errorf("%w: fragmented control frame", ErrFrame)
		}
		return nil
	}
	return fmt.Errorf("%w: reserved opcode %#x", ErrFrame, h.opcode)
}

// appendClientFrame appends one final, masked client frame (RFC 6455
// section 5.3) holding payload to dst. The mask key is fixed: it guards
// proxies, not secrets, and a fixed one costs nothing per frame.
func appendClientFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	key := [4]byte{0x5a, 0x17, 0xc3, 0x8e}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// closeCode reads the status code of a close frame's payload; 1005 when it
// has none (RFC 6455 section 7.1.5).
func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload))
}

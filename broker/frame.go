package broker

import "encoding/binary"

// frameHeaderRoom is the longest header of an unmasked server frame
// (RFC 6455 section 5.2: 2 bytes, then a 16- or 64-bit extended length).
const frameHeaderRoom = 10

// The first byte of a frame: FIN and the text opcode (RFC 6455 section
// 5.2), and RSV1, which marks a compressed message (RFC 7692 section 6).
const (
	finText = 0x80 | 0x1
	rsv1    = 0x40
)

// newFrame returns an empty buffer with header room reserved at its front;
// append the payload to it, then call finishFrame.
func newFrame(payloadHint int) []byte {
	return make([]byte, frameHeaderRoom, frameHeaderRoom+payloadHint)
}

// finishFrame writes the header of a final text frame (FIN, opcode 1, no
// mask) just before the payload, in the room newFrame left, and returns the
// complete frame. The payload is not copied.
func finishFrame(buf []byte) []byte {
	return finishFrameWith(buf, 0)
}

// finishFrameWith is finishFrame with extra bits (rsv1) in the first byte.
func finishFrameWith(buf []byte, bits byte) []byte {
	n := len(buf) - frameHeaderRoom
	var start int
	switch {
	case n <= 125:
		start = frameHeaderRoom - 2
		buf[start+1] = byte(n)
	case n <= 0xFFFF:
		start = frameHeaderRoom - 4
		buf[start+1] = 126
		binary.BigEndian.PutUint16(buf[start+2:], uint16(n))
	default:
		start = 0
		buf[1] = 127
		binary.BigEndian.PutUint64(buf[2:], uint64(n))
	}
	buf[start] = finText | bits
	return buf[start:]
}

// framePayload returns the payload of a complete frame that finishFrame
// made: what follows its header.
func framePayload(frame []byte) []byte {
	switch frame[1] & 0x7f {
	case 126:
		return frame[4:]
	case 127:
		return frame[10:]
	}
	return frame[2:]
}

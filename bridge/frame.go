package natsbridge

import (
	"encoding/binary"
	"fmt"
)

// FrameSize is the size of the frame that Config.Sequence puts in front
// of a payload.
const FrameSize = 8

// Frame appends to dst the frame In sends to the queue with
// Config.Sequence: the stream sequence seq, 8 bytes little-endian, then
// the payload.
func Frame(dst []byte, seq uint64, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	return append(dst, payload...)
}

// Unframe splits a message In framed into its stream sequence and
// payload. A queue consumer drops a message whose sequence is not above
// the last one it processed: that is a redelivery.
func Unframe(msg []byte) (seq uint64, payload []byte, err error) {
	if len(msg) < FrameSize {
		return 0, nil, fmt.Errorf("framed message of %d bytes: shorter than its %d-byte stream sequence", len(msg), FrameSize)
	}
	return binary.LittleEndian.Uint64(msg), msg[FrameSize:], nil
}

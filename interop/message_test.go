package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The messages of the interop tests, made the same way by every side (see
// testdata/peer.c and python's test peer): producer p's message seq has a
// length and bytes drawn from (p, seq), and at 12 bytes or more starts with
// p (u32) and seq (u64), so that a consumer of many producers can tell
// whose it is. A receiver checks every byte.

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func msgKey(p uint32, seq uint64) uint64 { return mix(uint64(p)<<40 ^ seq) }

func msgLen(p uint32, seq uint64, maxLen, minLen int) int {
	return minLen + int(mix(msgKey(p, seq))%uint64(maxLen-minLen+1))
}

// fillMsg writes message (p, seq) of n bytes into b[:n].
func fillMsg(b []byte, p uint32, seq uint64, n int) []byte {
	b = b[:n]
	k := msgKey(p, seq)
	var w uint64
	for j := range b {
		if j%8 == 0 {
			w = mix(k + uint64(j/8))
		}
		b[j] = byte(w >> (8 * (j % 8)))
	}
	if n >= 12 {
		binary.LittleEndian.PutUint32(b, p)
		binary.LittleEndian.PutUint64(b[4:], seq)
	}
	return b
}

// checkMsg compares m with message (p, seq).
func checkMsg(m []byte, p uint32, seq uint64, maxLen, minLen int, scratch []byte) error {
	if n := msgLen(p, seq, maxLen, minLen); len(m) != n {
		return fmt.Errorf("producer %d message %d: %d bytes, want %d", p, seq, len(m), n)
	}
	if !bytes.Equal(m, fillMsg(scratch, p, seq, len(m))) {
		return fmt.Errorf("producer %d message %d: the bytes differ", p, seq)
	}
	return nil
}

// msgOwner reads the producer and sequence number of a message of at
// least 12 bytes.
func msgOwner(m []byte) (uint32, uint64, bool) {
	if len(m) < 12 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[4:]), true
}

package mem

import "unsafe"

// Copying payloads into and out of a shared ring.
//
// Go's copy moves large blocks with a vector loop on AMD CPUs (REP MOVS
// only on Intel's with ERMS and FSRM). Into a ring that another CPU reads,
// that is not always the fastest way: on AMD's Zen 5 (family 0x1A) a
// producer that writes a 64 KiB message with REP MOVSB makes its stream
// several times faster when the two CPUs are far apart (the string
// instruction writes whole cache lines without first reading them from
// the CPU that last read them) and a little faster when they are close,
// while below a few tens of KiB the vector loop is faster when they are
// close. glibc's memcpy switches the same way. Copy and Append therefore
// use REP MOVSB for blocks of RepMovsbMin bytes or more on such CPUs, and
// Go's copy everywhere else (other CPUs, smaller blocks, race, asan and
// msan builds, whose checkers see only Go's copy, and overlapping slices).
//
// REP MOVSB's fast mode may store the bytes of one copy out of order among
// themselves, but a string operation is not reordered with other stores
// (Intel SDM vol. 3A, "Memory-Ordering Model for String Operations on
// Write-Back Memory"; Go's own copy relies on it with REP MOVSQ on Intel):
// a release store that publishes a payload still follows all of it.

// RepMovsbMin is the least block that Copy and Append move with REP MOVSB
// where they use it: on the Zen 5 VM it was measured on, REP MOVSB streamed
// 32 KiB messages 5% faster and 8 KiB ones 40% slower than the vector loop
// while the two CPUs shared a cache, and 2.5 to 3 times faster from 8 KiB
// on while they did not.
const RepMovsbMin = 32 << 10

// Copy copies min(len(dst), len(src)) bytes from src to dst and returns
// how many, as the built-in copy does: with REP MOVSB for blocks of
// RepMovsbMin bytes or more on AMD CPUs of family 0x1A and later, with
// Go's copy otherwise (see the comment at the top of copy.go for why).
func Copy(dst, src []byte) int {
	if min(len(dst), len(src)) < RepMovsbMin || !useRepMovsb {
		return copy(dst, src)
	}
	return copyLarge(dst, src)
}

// Append appends src to dst as the built-in append does, copying as Copy
// when dst has room for src (a new array is filled by append itself,
// which would otherwise clear it first).
func Append(dst, src []byte) []byte {
	if len(src) < RepMovsbMin || !useRepMovsb {
		return append(dst, src...)
	}
	return appendLarge(dst, src)
}

// appendLarge is Append for blocks of RepMovsbMin bytes or more where
// useRepMovsb is set, kept out of line so that Append inlines.
//
//go:noinline
func appendLarge(dst, src []byte) []byte {
	n := len(dst)
	if cap(dst)-n < len(src) {
		return append(dst, src...)
	}
	dst = dst[:n+len(src)]
	copyLarge(dst[n:], src)
	return dst
}

// useRepMovsb says whether Copy and Append use REP MOVSB for large blocks
// (repMovsbFast, or ForceRepMovsb).
var useRepMovsb = repMovsbFast()

// ForceRepMovsb makes Copy and Append take their REP MOVSB path for large
// blocks whatever the CPU and build (on other architectures than amd64 that
// path is Go's copy too), until restore is called: for tests of that path
// on any machine, called while no other goroutine copies.
func ForceRepMovsb() (restore func()) {
	was := useRepMovsb
	useRepMovsb = true
	return func() { useRepMovsb = was }
}

// copyLarge is Copy for blocks of RepMovsbMin bytes or more where
// useRepMovsb is set.
func copyLarge(dst, src []byte) int {
	n := min(len(dst), len(src))
	d, s := uintptr(unsafe.Pointer(unsafe.SliceData(dst))), uintptr(unsafe.Pointer(unsafe.SliceData(src)))
	if d < s+uintptr(n) && s < d+uintptr(n) {
		return copy(dst, src) // overlapping: copy handles the direction
	}
	repMovsb(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	return n
}

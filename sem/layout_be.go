//go:build mips || mips64 || ppc64 || s390x

package sem

// offValue is the offset of value, the low half of data and the futex word:
// its last four bytes on a big-endian machine.
const offValue = 4

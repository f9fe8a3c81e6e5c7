//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package sem

// offValue is the offset of value, the low half of data and the futex word:
// its first four bytes on a little-endian machine.
const offValue = 0

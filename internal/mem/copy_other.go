//go:build !amd64

package mem

import "unsafe"

// repMovsb is Go's copy: REP MOVSB is x86's.
func repMovsb(dst, src *byte, n int) { copy(unsafe.Slice(dst, n), unsafe.Slice(src, n)) }

// repMovsbFast reports false: REP MOVSB is x86's.
func repMovsbFast() bool { return false }

//go:build !amd64

package mem

import "unsafe"

// useRepMovsb is false: REP MOVSB is x86's.
const useRepMovsb = false

func repMovsb(dst, src *byte, n int) { copy(unsafe.Slice(dst, n), unsafe.Slice(src, n)) }

package mem

// prefetchW says whether the CPU has PREFETCHW (CPUID leaf 0x80000001 ECX
// bit 8): every AMD64 CPU of AMD's, Intel's from Broadwell on.
var prefetchW = hasPrefetchW()

func hasPrefetchW() bool {
	if max, _, _, _ := cpuid(0x80000000, 0); max < 0x80000001 {
		return false
	}
	_, _, c, _ := cpuid(0x80000001, 0)
	return c&(1<<8) != 0
}

// prefetchWrite issues PREFETCHW for every cache line from p to p+n-1
// (prefetch_amd64.s); n > 0.
//
//go:noescape
func prefetchWrite(p *byte, n int)

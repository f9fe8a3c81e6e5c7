package mem

// repMovsb copies n bytes from src to dst with one REP MOVSB
// (copy_amd64.s); the two do not overlap.
//
//go:noescape
func repMovsb(dst, src *byte, n int)

// cpuid executes CPUID with EAX = leaf and ECX = sub (copy_amd64.s).
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// repMovsbFast reports whether large copies use REP MOVSB: outside builds
// whose checkers see only Go's copy (race, asan, msan), on an AMD CPU of
// family 0x1A (Zen 5) or later that has ERMS (enhanced REP MOVSB, CPUID
// leaf 7 EBX bit 9).
func repMovsbFast() bool {
	if instrumented {
		return false
	}
	max, b, c, d := cpuid(0, 0)
	if b != 0x68747541 || d != 0x69746e65 || c != 0x444d4163 || max < 7 { // "AuthenticAMD"
		return false
	}
	sig, _, _, _ := cpuid(1, 0)
	family := sig >> 8 & 0xf
	if family == 0xf {
		family += sig >> 20 & 0xff
	}
	_, ext, _, _ := cpuid(7, 0)
	return family >= 0x1a && ext&(1<<9) != 0
}

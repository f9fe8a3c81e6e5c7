//go:build race || asan || msan

package mem

// instrumented says whether this build checks memory accesses (race, asan,
// msan), which it sees only through Go's own copy.
const instrumented = true

//go:build linux

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// The multi-process tests re-execute this test binary in a child role
// (shmtest.Role, registered by each file in an init function); TestMain
// runs the role instead of the tests in a child. A child that crashes (an
// unrecovered panic, a SIGBUS or SIGSEGV the runtime could not turn into an
// error) exits with 2, the Go runtime's status, which no role uses.

// envStrength set to "full" runs the suite at full strength.
const envStrength = "SHM_CHAOS"

func TestMain(m *testing.M) { shmtest.Main(m) }

// full reports whether the suite runs at full strength: built with -tags
// chaos, or SHM_CHAOS=full in the environment.
func full() bool { return fullByTag || os.Getenv(envStrength) == "full" }

// trials returns def, or fullN at full strength, or a tenth of def (at
// least one) under -short: a smoke run that each kind of trial still works,
// for a quick go test -short.
func trials(def, fullN int) int {
	switch {
	case full():
		return fullN
	case testing.Short():
		return max(1, def/10)
	}
	return def
}

// span returns def, or fullD at full strength, or a quarter of def under
// -short: how long a test that runs for a set time runs.
func span(def, fullD time.Duration) time.Duration {
	switch {
	case full():
		return fullD
	case testing.Short():
		return def / 4
	}
	return def
}

// newRand returns a random source for a test and logs its seed, so that a
// failing trial sequence can be replayed with SHM_CHAOS_SEED.
func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHM_CHAOS_SEED"); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			seed = n
		}
	}
	t.Logf("seed %d (replay with SHM_CHAOS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// roleRand returns a random source for a child role, seeded apart in every
// process.
func roleRand() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
}

// victimsIn returns the start options and the summary's wording for kill
// tests whose victims run in this PID namespace (otherNS false) or each in
// a new one; the latter skips unless root.
func victimsIn(t *testing.T, otherNS bool) ([]shmtest.Option, string) {
	t.Helper()
	if !otherNS {
		return nil, ""
	}
	needRoot(t, "start victims in new PID namespaces (CLONE_NEWPID)")
	return []shmtest.Option{shmtest.NewPIDNamespace()}, ", victims each in its own PID namespace"
}

// say prints one line to the parent (children report this way).
func say(format string, a ...any) {
	fmt.Printf(format+"\n", a...)
}

// withTimeout is context.WithTimeout on the background context.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// needRoot skips a test that needs root, saying why.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping: needs root to %s", why)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtS(format string, a ...any) string { return fmt.Sprintf(format, a...) }

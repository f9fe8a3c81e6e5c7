package bench

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestMain lets the test binary be the peer of the runs the tests start
// (Run re-executes this binary with peerEnv set) and a child in a role of
// the tests' (internal/shmtest).
func TestMain(m *testing.M) {
	shmtest.RunChild()
	if IsPeer() {
		if err := ServePeer(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// A binary built with -race sleeps a second before exiting
	// (atexit_sleep_ms); every peer is such a binary under go test -race.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

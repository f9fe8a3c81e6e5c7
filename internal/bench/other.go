//go:build !linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// errUnsupported is returned by Run and ServePeer where the runner has not
// been ported: it pins threads, hands descriptors to a re-executed peer and
// relies on Linux's parent-death signal.
var errUnsupported = fmt.Errorf("bench: not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// transports is empty: no transport has been ported.
var transports []Transport

func supported() error { return errUnsupported }

// ServePeer plays the peer's part of a case; on this system it only
// returns an error wrapping errors.ErrUnsupported.
func ServePeer(ctx context.Context) error { return errUnsupported }

// Never reached: Run stops at supported.
func choosePlacement(want [2]int) (Placement, error) {
	return Placement{Driver: -1, Peer: -1}, errUnsupported
}

func runCase(ctx context.Context, c *config, t Transport, cs Case, d time.Duration, place Placement) Result {
	return Result{Transport: cs.Transport, Workload: cs.Workload, Size: cs.Size, Error: errUnsupported.Error()}
}

// cRunner is a C program a run can start: none exists here.
type cRunner interface{ Transport }

// cPrograms holds no programs here.
type cPrograms struct {
	bins map[string]string
	err  error
}

// Never reached: Run stops at supported.
func buildC(ctx context.Context, ts []Transport) *cPrograms { return &cPrograms{} }

func (b *cPrograms) remove() {}

// Never reached: Run stops at supported.
func runC(ctx context.Context, r cRunner, progs *cPrograms, cs Case, d time.Duration, place Placement) Result {
	return Result{Transport: cs.Transport, Skipped: errUnsupported.Error()}
}

// Never reached: Run stops at supported.
func (r *runner) sweepCases() []Case { return nil }

// Never reached: Run stops at supported.
func probeLink(place Placement) uint64 { return 0 }

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ServePeer plays the peer's part of the case described in peerEnv: it pins
// the calling goroutine's thread to the CPU the driver chose, attaches to
// the transport, and answers the driver until its stop message. It returns
// nil when the case went well; the program should then exit with status 0,
// and otherwise print the error and exit non-zero, which the driver reports.
// It locks the calling goroutine to its thread for good.
func ServePeer(ctx context.Context) error {
	var spec peerSpec
	if err := json.Unmarshal([]byte(os.Getenv(peerEnv)), &spec); err != nil {
		return fmt.Errorf("bench peer: bad %s: %w", peerEnv, err)
	}
	t := transportByName(spec.Case.Transport)
	if t == nil {
		return fmt.Errorf("bench peer: unknown transport %q", spec.Case.Transport)
	}
	if spec.Case.Size < MinSize || spec.Case.Size > MaxSize {
		return fmt.Errorf("bench peer: message size %d is outside %d to %d bytes", spec.Case.Size, MinSize, MaxSize)
	}
	if spec.Case.Capacity < 0 || spec.Case.Capacity > 2*MaxCapacity {
		return fmt.Errorf("bench peer: capacity %d is outside 0 to %d bytes", spec.Case.Capacity, 2*MaxCapacity)
	}
	if spec.Files < 0 || spec.Files > 16 {
		return fmt.Errorf("bench peer: %d inherited files", spec.Files)
	}
	p := PeerInfo{Arg: spec.Arg}
	for i := range spec.Files {
		p.Files = append(p.Files, os.NewFile(uintptr(3+i), fmt.Sprintf("fd%d", 3+i)))
	}
	if err := pinThread(spec.CPU); err != nil {
		return fmt.Errorf("bench peer: %w", err)
	}
	conn, err := t.Attach(ctx, spec.Case, p)
	if err != nil {
		return fmt.Errorf("bench peer: attach %s: %w", spec.Case.Transport, err)
	}
	switch s, self := conn.(selfServing); {
	case self:
		err = s.serve(ctx, spec.Case)
	case spec.Case.Workload == RTT || spec.Case.Workload == Wake:
		err = serveRTT(ctx, conn, spec.Case.Size)
	case spec.Case.Workload == Stream || spec.Case.Workload == Batch:
		err = serveStream(ctx, conn, spec.Case.Size, spec.Case.Workload == Batch)
	default:
		err = fmt.Errorf("unknown workload %q", spec.Case.Workload)
	}
	err = errors.Join(err, conn.Close())
	if err != nil {
		return fmt.Errorf("bench peer %s %s %d: %w", spec.Case.Transport, spec.Case.Workload, spec.Case.Size, err)
	}
	return nil
}

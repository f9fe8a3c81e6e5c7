package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// A Conn is one end of a two-way message channel between the driver and its
// peer process. Every message on a Conn has the same length, fixed when the
// transport was prepared; Send and Receive move exactly that many bytes.
//
// Transports built on shared memory watch ctx while they wait. Transports
// built on file descriptors block in the kernel and ignore it: the runner
// kills the peer when ctx ends, which makes their waits fail.
type Conn interface {
	// Send delivers msg, whole.
	Send(ctx context.Context, msg []byte) error
	// Receive fills buf with the next message.
	Receive(ctx context.Context, buf []byte) error
	// Close releases this end; on the driver's side it also removes any
	// named object the transport created.
	Close() error
}

// PeerInfo is what the peer process needs to attach to a prepared
// transport: an argument (a segment name, say) and open files that it
// inherits as descriptors 3, 4, ... in order.
type PeerInfo struct {
	Arg   string
	Files []*os.File
}

// A Workload is what the two processes do with a transport.
type Workload string

const (
	// RTT is ping-pong: the driver sends a message, the peer sends it back,
	// and every round trip is timed.
	RTT Workload = "rtt"
	// Stream is one-way throughput: the driver sends messages as fast as
	// the transport takes them and the peer receives them.
	Stream Workload = "stream"
	// Wake is ping-pong with a pause (WakeGap) before every round trip, so
	// that a peer that sleeps when idle is asleep when the message comes:
	// every timed round trip includes waking it.
	Wake Workload = "wake"
	// Batch is Stream with messages handed over BatchLen at a time, through
	// the transport's batch calls where it has them (the queue's SendBatch
	// and ReceiveBatch, one write of the whole batch for the kernel's
	// transports, the C ring's batched form), one at a time where not.
	Batch Workload = "batch"
)

// WorkloadNames returns the names of every workload, in report order.
func WorkloadNames() []string {
	return []string{string(RTT), string(Wake), string(Stream), string(Batch)}
}

// valid reports whether w is a known workload.
func (w Workload) valid() bool { return w == RTT || w == Stream || w == Wake || w == Batch }

// streaming reports whether w counts messages rather than timing round trips.
func (w Workload) streaming() bool { return w == Stream || w == Batch }

// Case is one measurement: a workload over a transport with one message
// size. It travels to the peer process with the PeerInfo.
type Case struct {
	Transport string   `json:"transport"`
	Workload  Workload `json:"workload"`
	Size      int      `json:"size"`
	// Dir is the shared-memory directory for named objects ("" is
	// /dev/shm).
	Dir string `json:"dir,omitempty"`
	// Name is unique to this case: a transport that creates named objects
	// derives their names from it.
	Name string `json:"name"`
	// SharedCPU is set when the two processes may have to share one CPU:
	// a busy-polling transport should then give the CPU away now and then,
	// or its peer could not run until the scheduler preempts it.
	SharedCPU bool `json:"shared_cpu,omitempty"`
	// Capacity is the size in bytes of each direction's ring, for the
	// transports that have one (0 for the others).
	Capacity int64 `json:"capacity,omitempty"`
}

// A Transport is one way of moving messages between two processes.
type Transport interface {
	// Name is the transport's short name, used by --transport and in
	// reports ("pipe", "unix", ...).
	Name() string
	// Describe says in a few words what is measured.
	Describe() string
	// Prepare runs in the driver before the peer starts. It creates what the
	// two sides share for messages of c.Size bytes and returns the driver's
	// end and what the peer needs. The runner closes the driver's copies of
	// PeerInfo.Files once the peer has started, and the Conn when the case
	// ends.
	Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error)
	// Attach runs in the peer process with what Prepare gave it. A
	// transport over named objects unlinks them here, as soon as both sides
	// have them open, so that nothing is left behind whatever happens next.
	Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error)
}

// A sizedTransport has a ring whose size is a knob of the case
// (Case.Capacity, Capacities).
type sizedTransport interface {
	// capacityFor returns the capacity the transport uses for messages of
	// size bytes when asked for capacity: that, or more when it must hold
	// at least two messages or be a power of two.
	capacityFor(size int, capacity int64) int64
}

// A partialTransport runs some workloads only; a run makes no case of the
// others.
type partialTransport interface {
	supports(w Workload) bool
}

// supports reports whether t runs workload w.
func supports(t Transport, w Workload) bool {
	p, ok := t.(partialTransport)
	return !ok || p.supports(w)
}

// Names of the transports a run can include, in the order they are
// reported. A name listed here whose package has not landed yet is absent
// from Transports.
const (
	// CPingPong is a C round trip through one slot each way:
	// testdata/pingpong.c.
	CPingPong = "c-pingpong"
	// CRing is the C limit of a stream, one message at a time (Stream) or
	// in batches (Batch): testdata/ring.c. Its round trips (RTT) go through
	// a ring each way (testdata/pingpong.c with a capacity). The faster of
	// the two is the C limit of a round trip.
	CRing     = "c-ring"
	Raw       = "raw"
	QueueSpin = "queue-spin"
	Queue     = "queue"
	// QueueNoGuard is Queue with queue.NoFaultGuard on both sides.
	QueueNoGuard = "queue-noguard"
	// QueueZeroCopy is Queue through Reserve/Commit and Peek/Release.
	QueueZeroCopy = "queue-zerocopy"
	Sem           = "sem"
	Pipe          = "pipe"
	Unix          = "unix"
	TCP           = "tcp"
)

// Transports returns every transport this build knows, in report order.
func Transports() []Transport { return append([]Transport(nil), transports...) }

// Lookup returns the transports with the given names, in report order, or
// an error naming an unknown one. No names means all of them.
func Lookup(names ...string) ([]Transport, error) {
	if len(names) == 0 {
		return Transports(), nil
	}
	want := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if transportByName(n) == nil {
			return nil, fmt.Errorf("unknown transport %q (known: %s)", n, strings.Join(TransportNames(), ", "))
		}
		want[n] = true
	}
	var out []Transport
	for _, t := range transports {
		if want[t.Name()] {
			out = append(out, t)
		}
	}
	return out, nil
}

// TransportNames returns the names of Transports.
func TransportNames() []string {
	var names []string
	for _, t := range transports {
		names = append(names, t.Name())
	}
	return names
}

func transportByName(name string) Transport {
	for _, t := range transports {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

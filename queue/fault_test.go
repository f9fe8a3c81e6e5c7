//go:build linux

package queue

// A peer shrinking the queue's object (ftruncate) under its users: every
// call that meets a page that is gone returns an error wrapping
// shm.ErrFault, the process lives, the handle stays usable for Close, and
// /dev/shm is left clean. The truncating peer is the test binary run again
// in the "truncate" role.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// truncateChild is the peer that shrinks a queue's object: it opens
// a["name"], waits as a["wait"] says ("" not at all, "cons" until the
// consumer sleeps on its futex word, "prod" until a producer does, or a
// duration such as "20ms"), truncates the object to a["size"] bytes and
// says "truncated".
func truncateChild(a shmtest.Args) error {
	seg, err := shm.Open(a["name"])
	if err != nil {
		return err
	}
	defer seg.Close()
	switch w := a["wait"]; w {
	case "":
	case "cons", "prod":
		off, sleeping := offConsWait, uint32(1)
		if w == "prod" {
			off, sleeping = offProdWait, prodSleeping
		}
		word := mem.MustUint32(seg.Bytes(), off)
		for deadline := time.Now().Add(10 * time.Second); word.Load() != sleeping; {
			if time.Now().After(deadline) {
				return fmt.Errorf("the %s side never went to sleep", w)
			}
			time.Sleep(time.Millisecond)
		}
	default:
		d, err := time.ParseDuration(w)
		if err != nil {
			return err
		}
		time.Sleep(d)
	}
	size, err := strconv.ParseInt(a["size"], 10, 64)
	if err != nil {
		return err
	}
	if err := unix.Ftruncate(seg.Fd(), size); err != nil {
		return err
	}
	fmt.Println("truncated")
	return nil
}

// truncator starts the truncating peer on queue name.
func truncator(t testing.TB, name string, size int64, wait string) *childProc {
	return spawn(t, "truncate", name, 0, 0, shmtest.Args{"size": strconv.FormatInt(size, 10), "wait": wait})
}

// raceWindow explains why the tests that truncate the object while a call
// runs skip under the race detector: a race build performs each atomic
// operation on the mapping inside the race runtime's C code, on the system
// stack, after touching the word from Go. A truncation that lands between
// the touch and the operation faults in C, where the runtime cannot turn
// the fault into a panic, and the process dies. Truncations between calls
// (TestTruncateBetweenCalls) and under a sleeping waiter fault at the
// touch and run under race too.
const raceWindow = "the race runtime's atomics fault in C code when the object is truncated concurrently (see raceWindow)"

// truncateNow truncates queue name to size in another process and waits
// until it has.
func truncateNow(t testing.TB, name string, size int64) {
	t.Helper()
	if err := truncator(t, name, size, "").wait(); err != nil {
		t.Fatalf("truncating peer: %v", err)
	}
}

// faultCapacity is the ring of the queues in these tests: the object has
// headerSize+faultCapacity bytes, and truncating it to half keeps the header
// and the first 30 KiB of the ring.
const faultCapacity = 64 << 10

const pageSize = 4096

// truncSizes are the sizes the peer truncates the object to.
var truncSizes = []struct {
	name string
	size int64
}{
	{"zero", 0},
	{"half", (headerSize + faultCapacity) / 2},
}

// forCatchers runs test once for each way a handle catches faults: with
// the SIGBUS watch, where the platform has one (elsewhere this is the
// guard again), and with SetPanicOnFault's guard.
func forCatchers(t *testing.T, test func(t *testing.T)) {
	shmtest.Both(t, &watchFaults, "watch", "guard", test)
}

// wantFault fails the test unless err is the *shm.Error of operation op on
// queue name, wrapping shm.ErrFault.
func wantFault(t testing.TB, err error, op, name string) {
	t.Helper()
	var e *shm.Error
	if !errors.Is(err, shm.ErrFault) || !errors.As(err, &e) || e.Op != op || e.Name != shmName(name) {
		t.Fatalf("got %v; want a *shm.Error for %q on %s wrapping shm.ErrFault", err, op, shmName(name))
	}
}

// wantGone checks that the handles are closed for good and the name can go,
// leaving nothing in /dev/shm.
func wantGone(t testing.TB, name string, qs ...*Queue) {
	t.Helper()
	for _, q := range qs {
		if watchFaults && watchable && !q.unguarded {
			t.Error("the handle did not watch its mapping")
		}
		if err := q.Close(); err != nil {
			t.Errorf("Close of a handle that faulted: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := q.TrySend(nil); !errors.Is(err, shm.ErrClosed) {
			t.Errorf("TrySend after Close: %v; want shm.ErrClosed", err)
		}
	}
	if err := Unlink(name); err != nil {
		t.Errorf("Unlink: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(shm.DefaultDir, shmName(name))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still in %s: %v", name, shm.DefaultDir, err)
	}
}

// TestTruncateWhileBlocked: the consumer waits in Receive or Peek on an
// empty queue, or a producer waits in Send on a full one, when the peer
// truncates the object; the wait must end with ErrFault, not hang (the ring
// page it watches may be gone, or, with a half truncation, still there).
func TestTruncateWhileBlocked(t *testing.T) { forCatchers(t, testTruncateWhileBlocked) }

func testTruncateWhileBlocked(t *testing.T) {
	shmtest.SkipShort(t)
	type waiter struct {
		name  string
		op    string
		word  string // the futex word a sleeping waiter advertises
		multi bool
		wait  func(ctx context.Context, p, c *Queue) error
	}
	// The handle that waited is broken; the other one only meets the
	// fault if it touches a page that is gone, or waits.
	again := map[string]func(p, c *Queue) error{
		opReceive: func(p, c *Queue) error { _, err := c.TryReceive(nil); return err },
		opSend:    func(p, c *Queue) error { return p.TrySend(nil) },
	}
	receive := func(ctx context.Context, p, c *Queue) error { _, err := c.Receive(ctx, nil); return err }
	peek := func(ctx context.Context, p, c *Queue) error { _, err := c.Peek(ctx); return err }
	batch := func(ctx context.Context, p, c *Queue) error {
		_, err := c.ReceiveBatch(ctx, make([][]byte, 4))
		return err
	}
	held := func(ctx context.Context, p, c *Queue) error { _, _, err := recvHeld(ctx, c, nil); return err }
	send := func(ctx context.Context, p, c *Queue) error {
		msg := make([]byte, 1000)
		for {
			if err := p.TrySend(msg); err == ErrFull {
				break
			} else if err != nil {
				return fmt.Errorf("filling the ring: %w", err)
			}
		}
		return p.Send(ctx, msg)
	}
	waiters := []waiter{
		{"Receive", opReceive, "cons", false, receive},
		{"Peek", opReceive, "cons", false, peek},
		{"ReceiveBatch", opReceive, "cons", false, batch},
		{"Receive held", opReceive, "cons", false, held},
		{"Send", opSend, "prod", false, send},
		{"ReceiveMPSC", opReceive, "cons", true, receive},
		{"SendMPSC", opSend, "prod", true, send},
	}
	for _, w := range waiters {
		for _, s := range []WaitStrategy{SpinThenSleep, Block, Spin} {
			for _, ts := range truncSizes {
				t.Run(fmt.Sprintf("%s/%s/%s", w.name, s, ts.name), func(t *testing.T) {
					if raceEnabled && s == Spin {
						t.Skip(raceWindow)
					}
					opts := []Option{Wait(s)}
					if w.multi {
						opts = append(opts, MultiProducer())
					}
					name, p, c := pair(t, faultCapacity, opts...)
					wait := w.word
					if s == Spin { // a spinner never sleeps: give it time to spin
						wait = "50ms"
					}
					k := truncator(t, name, ts.size, wait)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					start := time.Now()
					err := w.wait(ctx, p, c)
					t.Logf("returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
					wantFault(t, err, w.op, name)
					if err := k.wait(); err != nil {
						t.Fatalf("truncating peer: %v", err)
					}
					// The handle stays broken, and says so.
					wantFault(t, again[w.op](p, c), w.op, name)
					wantGone(t, name, p, c)
				})
			}
		}
	}
}

// faultEnv is what a TestTruncateBetweenCalls case works on.
type faultEnv struct {
	ctx  context.Context
	name string
	p, c *Queue
	seg  *shm.Segment // mapped before the truncation, if the case needs it
	msg  []byte
}

// What a case of TestTruncateBetweenCalls must return.
const (
	wantFaultErr  = iota // a *shm.Error of op wrapping shm.ErrFault
	wantFaultOnly        // an error wrapping shm.ErrFault (no name: Probe, or an internal call)
	wantRefused          // a fresh mapping of the shrunk object: ErrNotQueue or ErrCorrupt
)

// Which half truncations a call may live through: the header page (and the
// ring's first half) survive, and some calls touch nothing else.
const (
	halfFaults  = iota // the call touches the ring where it is gone
	halfMayPass        // the call may touch the header alone: nil is right too
)

// TestTruncateBetweenCalls truncates the object between two calls and then
// makes each exported call once: it must fail with ErrFault (or, for calls
// that map the object afresh, refuse it as not a queue), and every later
// call on the handle must fail too, until Close.
func TestTruncateBetweenCalls(t *testing.T) { forCatchers(t, testTruncateBetweenCalls) }

func testTruncateBetweenCalls(t *testing.T) {
	shmtest.SkipShort(t)
	var held Position // what ReleaseThrough releases
	cases := []struct {
		name  string
		op    string
		want  int
		half  int
		setup func(t *testing.T, e *faultEnv) // before the truncation
		call  func(e *faultEnv) error
	}{
		{"Send", opSend, wantFaultErr, halfFaults, nil, func(e *faultEnv) error { return e.p.Send(e.ctx, e.msg) }},
		{"TrySend", opSend, wantFaultErr, halfFaults, nil, func(e *faultEnv) error { return e.p.TrySend(e.msg) }},
		{"SendBatch", opSend, wantFaultErr, halfFaults, nil, func(e *faultEnv) error { return e.p.SendBatch(e.ctx, [][]byte{e.msg, e.msg}) }},
		{"Reserve", opSend, wantFaultErr, halfFaults, nil, func(e *faultEnv) error { _, err := e.p.Reserve(e.ctx, 100); return err }},
		{"Commit", opCommit, wantFaultErr, halfFaults, func(t *testing.T, e *faultEnv) {
			b, err := e.p.Reserve(e.ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			copy(b, e.msg)
		}, func(e *faultEnv) error { return e.p.Commit() }},
		{"Receive", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, err := e.c.Receive(e.ctx, nil); return err }},
		{"ReceiveEmpty", opReceive, wantFaultErr, halfFaults, nil, func(e *faultEnv) error { _, err := e.c.Receive(e.ctx, nil); return err }},
		{"TryReceive", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, err := e.c.TryReceive(nil); return err }},
		{"ReceiveBatch", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, err := e.c.ReceiveBatch(e.ctx, make([][]byte, 4)); return err }},
		{"Peek", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, err := e.c.Peek(e.ctx); return err }},
		// Release publishes head, and may do so without a look at the ring
		// (a consumer right after a wait; always with several producers).
		{"Release", opRelease, wantFaultErr, halfMayPass, func(t *testing.T, e *faultEnv) {
			sendOneMsg(t, e)
			if _, err := e.c.Peek(e.ctx); err != nil {
				t.Fatal(err)
			}
		}, func(e *faultEnv) error { return e.c.Release() }},
		{"Receive held", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, _, err := recvHeld(e.ctx, e.c, nil); return err }},
		{"TryReceive held", opReceive, wantFaultErr, halfFaults, sendOneMsg, func(e *faultEnv) error { _, _, err := tryHeld(e.c, nil); return err }},
		{"ReleaseThrough", opRelease, wantFaultErr, halfMayPass, func(t *testing.T, e *faultEnv) {
			sendOneMsg(t, e)
			var err error
			if _, held, err = tryHeld(e.c, nil); err != nil {
				t.Fatal(err)
			}
		}, func(e *faultEnv) error { return e.c.ReleaseThrough(held) }},
		{"CloseProducer", opClose, wantFaultErr, halfMayPass, nil, func(e *faultEnv) error { return e.p.Close() }},
		{"CloseConsumer", opClose, wantFaultErr, halfMayPass, nil, func(e *faultEnv) error { return e.c.Close() }},
		{"CloseReserved", opClose, wantFaultErr, halfMayPass, func(t *testing.T, e *faultEnv) {
			if _, err := e.p.Reserve(e.ctx, 100); err != nil {
				t.Fatal(err)
			}
		}, func(e *faultEnv) error { return e.p.Close() }},
		{"Detach", opDetach, wantFaultErr, halfMayPass, nil, func(e *faultEnv) error { return e.p.Detach() }},
		{"Probe", "", wantFaultOnly, halfMayPass, mapSeg, func(e *faultEnv) error { _, err := Probe(e.seg.Bytes()); return err }},
		{"OpenHeader", "", wantFaultOnly, halfMayPass, mapSeg, func(e *faultEnv) error {
			// What Open does after mapping: read and check the header.
			c := newConfig(nil)
			q, err := attach(e.name, e.seg, &c)
			if err == nil {
				// The segment is closed below: the watch must end first.
				q.state, q.ring, q.words = stateClosed, nil, nil
				q.watch.Stop()
			}
			return err
		}},
		{"Open", "", wantRefused, halfFaults, nil, func(e *faultEnv) error {
			q, err := Open(e.name)
			if err == nil {
				q.Close()
			}
			return err
		}},
		{"Stat", "", wantRefused, halfFaults, nil, func(e *faultEnv) error { _, err := Stat(e.name); return err }},
	}
	for _, multi := range []bool{false, true} {
		for _, ts := range truncSizes {
			for _, tc := range cases {
				mode := "spsc"
				if multi {
					mode = "mpsc"
				}
				t.Run(fmt.Sprintf("%s/%s/%s", mode, ts.name, tc.name), func(t *testing.T) {
					var opts []Option
					if multi {
						opts = append(opts, MultiProducer())
					}
					name, p, c := pair(t, faultCapacity, opts...)
					e := &faultEnv{ctx: ctxT(t), name: name, p: p, c: c, msg: pattern(1, 1000)}
					// Move both cursors into the ring's second half, which a
					// half truncation takes away.
					for i := range 40 {
						if err := p.Send(e.ctx, e.msg); err != nil {
							t.Fatal(err)
						}
						if _, err := c.Receive(e.ctx, nil); err != nil {
							t.Fatalf("message %d: %v", i, err)
						}
					}
					if tc.setup != nil {
						tc.setup(t, e)
					}
					truncateNow(t, name, ts.size)
					err := tc.call(e)
					passed := err == nil && ts.size > 0 && tc.half == halfMayPass
					switch {
					case passed:
					case tc.want == wantFaultErr:
						wantFault(t, err, tc.op, name)
					case tc.want == wantFaultOnly:
						if !errors.Is(err, shm.ErrFault) {
							t.Fatalf("got %v; want an error wrapping shm.ErrFault", err)
						}
					case tc.want == wantRefused:
						if !errors.Is(err, ErrNotQueue) && !errors.Is(err, ErrCorrupt) {
							t.Fatalf("got %v; want ErrNotQueue or ErrCorrupt", err)
						}
					}
					if e.seg != nil {
						if err := e.seg.Close(); err != nil {
							t.Error(err)
						}
					}
					// Whatever the handles did, from now on every call that
					// needs the ring fails (or finds the handle closed).
					if err := p.Send(e.ctx, e.msg); !errors.Is(err, shm.ErrFault) && !errors.Is(err, shm.ErrClosed) {
						t.Errorf("Send afterwards: %v; want ErrFault or shm.ErrClosed", err)
					}
					// (A producer whose Close went through closed the queue.)
					if _, err := c.Receive(e.ctx, nil); !errors.Is(err, shm.ErrFault) && !errors.Is(err, shm.ErrClosed) && !(passed && err == io.EOF) {
						t.Errorf("Receive afterwards: %v; want ErrFault or shm.ErrClosed", err)
					}
					wantGone(t, name, p, c)
				})
			}
		}
	}
}

func sendOneMsg(t *testing.T, e *faultEnv) {
	if err := e.p.Send(e.ctx, e.msg); err != nil {
		t.Fatal(err)
	}
}

func mapSeg(t *testing.T, e *faultEnv) {
	seg, err := shm.Open(e.name)
	if err != nil {
		t.Fatal(err)
	}
	e.seg = seg
}

// TestTruncateWhileStreaming: a producer and a consumer stream messages
// (one at a time or in batches) when the peer truncates the object at a
// random moment: both must stop with ErrFault.
func TestTruncateWhileStreaming(t *testing.T) { forCatchers(t, testTruncateWhileStreaming) }

func testTruncateWhileStreaming(t *testing.T) {
	shmtest.SkipShort(t)
	if raceEnabled {
		t.Skip(raceWindow)
	}
	const trials = 3
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for _, multi := range []bool{false, true} {
		for _, ts := range truncSizes {
			for trial := range trials {
				batch := trial%2 == 1
				t.Run(fmt.Sprintf("multi=%v/%s/%d", multi, ts.name, trial), func(t *testing.T) {
					var opts []Option
					if multi {
						opts = append(opts, MultiProducer())
					}
					name, p, c := pair(t, faultCapacity, opts...)
					ctx := ctxT(t)
					sent := make(chan error, 1)
					go func() {
						g := newGen(1, p.MaxMessage())
						for {
							var err error
							if batch {
								// g.next reuses its buffer: copy.
								b := [][]byte{append([]byte(nil), g.next()...), append([]byte(nil), g.next()...), g.next()}
								err = p.SendBatch(ctx, b)
							} else {
								err = p.Send(ctx, g.next())
							}
							if err != nil {
								sent <- err
								return
							}
						}
					}()
					k := truncator(t, name, ts.size, fmt.Sprintf("%dms", 5+r.IntN(30)))
					// Every message is whole and in order, except that a
					// truncation inside a page zeroes the rest of that page,
					// which stays mapped: messages there read as zeros
					// (wrong data, which the threat model allows; the CRC
					// catches it). At most a page's worth of them, and none
					// at all when the whole object goes.
					var buf []byte
					var err error
					var n, zeroed int
					next := uint64(0)
					for ; ; n++ {
						if buf, err = c.Receive(ctx, buf); err != nil {
							break
						}
						if len(buf) < 16 || binary.LittleEndian.Uint32(buf[len(buf)-4:]) != crc32.ChecksumIEEE(buf[:len(buf)-4]) {
							zeroed++
							continue
						}
						seq := binary.LittleEndian.Uint64(buf[4:])
						if seq < next || seq-next > uint64(zeroed) {
							t.Fatalf("message %d: sequence number %d, want %d (%d zeroed messages passed)", n, seq, next, zeroed)
						}
						next = seq + 1
					}
					if limit := pageSize / 16; zeroed > 0 && (ts.size%pageSize == 0 || zeroed > limit) {
						t.Errorf("%d messages zeroed by a truncation to %d bytes", zeroed, ts.size)
					}
					wantFault(t, err, opReceive, name)
					wantFault(t, <-sent, opSend, name)
					t.Logf("%d messages before the fault, %d of them zeroed", n, zeroed)
					if err := k.wait(); err != nil {
						t.Fatalf("truncating peer: %v", err)
					}
					wantGone(t, name, p, c)
				})
			}
		}
	}
}

// TestNoFaultGuard shows what the option gives up: a child process sends,
// truncates the queue's object and sends again. With the guard the second
// Send returns shm.ErrFault; without it (NoFaultGuard) the process dies of
// the SIGBUS, as a C program would.
func TestNoFaultGuard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noGuard bool
		wantOut string // in the child's output
	}{
		{"guard", false, "the object was truncated to 0 bytes"},
		{"noguard", true, "unexpected fault address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _ := pair(t, faultCapacity)
			a := shmtest.Args{"name": name}
			if tc.noGuard {
				a["noguard"] = "1"
			}
			cmd := shmtest.Command(t, "send-truncated", a)
			out, err := cmd.CombinedOutput()
			if crashed := err != nil; crashed != tc.noGuard {
				t.Fatalf("child crashed: %v (%v), want %v; output:\n%s", crashed, err, tc.noGuard, out)
			}
			if !strings.Contains(string(out), tc.wantOut) {
				t.Fatalf("child's output lacks %q:\n%s", tc.wantOut, out)
			}
			if !tc.noGuard && strings.Contains(string(out), "0x") {
				t.Fatalf("the fault's error shows an address:\n%s", out)
			}
		})
	}
}

// sendTruncatedChild is TestNoFaultGuard's child.
func sendTruncatedChild(a shmtest.Args) error {
	q, err := openChildQueue(a)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := q.Send(ctx, []byte("before")); err != nil {
		return err
	}
	if err := unix.Ftruncate(q.seg.Fd(), 0); err != nil {
		return err
	}
	err = q.Send(ctx, []byte("after"))
	if !errors.Is(err, shm.ErrFault) {
		return fmt.Errorf("Send after the truncation: %v, want shm.ErrFault", err)
	}
	fmt.Println(err)
	return q.Close()
}

// TestTruncateInLargeCopy: the peer truncates the object inside the payload
// of a message large enough for mem.Copy's REP MOVSB path, forced here on
// any CPU: copying it out (a record that waits at head, whose header
// stays; into a buffer with room for it, as REP MOVSB, or into none, as
// append's copy into a new array), or in (a multi-producer Send, which
// writes the record's header at the ring's start and then the payload),
// faults in the middle of the copy, and the call must return ErrFault
// like any other fault.
func TestTruncateInLargeCopy(t *testing.T) { forCatchers(t, testTruncateInLargeCopy) }

func testTruncateInLargeCopy(t *testing.T) {
	shmtest.SkipShort(t)
	defer mem.ForceRepMovsb()()
	const size = 2 * mem.RepMovsbMin
	msg := pattern(2, size)
	receive := func(call func(ctx context.Context, c *Queue) error) func(ctx context.Context, p, c *Queue) error {
		return func(ctx context.Context, p, c *Queue) error { return call(ctx, c) }
	}
	cases := []struct {
		name    string
		op      string
		multi   bool
		waiting bool // a message waits at head before the truncation
		call    func(ctx context.Context, p, c *Queue) error
	}{
		{"Receive", opReceive, false, true, receive(func(ctx context.Context, c *Queue) error { _, err := c.Receive(ctx, nil); return err })},
		{"ReceiveInto", opReceive, false, true, receive(func(ctx context.Context, c *Queue) error {
			_, err := c.Receive(ctx, make([]byte, 0, size))
			return err
		})},
		{"TryReceiveInto", opReceive, false, true, receive(func(ctx context.Context, c *Queue) error {
			_, err := c.TryReceive(make([]byte, 0, size))
			return err
		})},
		{"ReceiveBatch", opReceive, false, true, receive(func(ctx context.Context, c *Queue) error {
			_, err := c.ReceiveBatch(ctx, [][]byte{make([]byte, size)})
			return err
		})},
		{"SendMPSC", opSend, true, false, func(ctx context.Context, p, c *Queue) error { return p.Send(ctx, msg) }},
		{"SendBatchMPSC", opSend, true, false, func(ctx context.Context, p, c *Queue) error { return p.SendBatch(ctx, [][]byte{msg}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			var opts []Option
			if tc.multi {
				opts = append(opts, MultiProducer())
			}
			name, p, c := pair(t, 4*size, opts...)
			if tc.waiting {
				if err := p.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
			truncateNow(t, name, headerSize+size/2)
			wantFault(t, tc.call(ctx, p, c), tc.op, name)
			wantGone(t, name, p, c)
		})
	}
}

// TestFaultPublishesNothing: a producer whose message runs past the end of
// a truncated object must not commit it. The object is then grown back
// (its lost pages return as zeros, as pages a full file system could not
// allocate read): the consumer must find the queue empty, not a message
// whose tail is zeros. With the watch the producer's call runs to its end,
// commit included, on the private pages that replaced the mapping.
func TestFaultPublishesNothing(t *testing.T) { forCatchers(t, testFaultPublishesNothing) }

func testFaultPublishesNothing(t *testing.T) {
	shmtest.SkipShort(t)
	for _, multi := range []bool{false, true} {
		t.Run(fmt.Sprintf("multi=%v", multi), func(t *testing.T) {
			var opts []Option
			if multi {
				opts = append(opts, MultiProducer())
			}
			name, p, c := pair(t, faultCapacity, opts...)
			if want := watchFaults && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && !raceEnabled; p.unguarded != want {
				t.Fatalf("the handle skips the guard: %v, want %v", p.unguarded, want)
			}
			if err := p.BecomeProducer(); err != nil {
				t.Fatal(err)
			}
			truncateNow(t, name, headerSize+2*pageSize)
			wantFault(t, p.TrySend(pattern(3, 4*pageSize)), opSend, name)
			if err := unix.Ftruncate(c.seg.Fd(), headerSize+faultCapacity); err != nil {
				t.Fatal(err)
			}
			if m, err := c.TryReceive(nil); err != ErrEmpty {
				t.Fatalf("TryReceive after the failed send: %d bytes, %v; want ErrEmpty", len(m), err)
			}
			wantGone(t, name, p, c)
		})
	}
}

// watchable says whether this build watches mappings (fault.Watch).
const watchable = runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && !raceEnabled

// TestFaultStopsMultiProducerBatch: a multi-producer SendBatch whose run of
// records crosses the end of a truncated object reserves them under the
// lock and then copies their payloads; the fault at the first header past
// the end must stop it there, so that no payload lands past the shared
// tail, in ring space that other producers may reserve next.
func TestFaultStopsMultiProducerBatch(t *testing.T) { forCatchers(t, testFaultStopsMultiProducerBatch) }

func testFaultStopsMultiProducerBatch(t *testing.T) {
	shmtest.SkipShort(t)
	ctx := ctxT(t)
	name, p, c := pair(t, faultCapacity, MultiProducer())
	for i := range 4 {
		if err := p.Send(ctx, pattern(100+i, 1000)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Receive(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	const kept = headerSize + 2*pageSize
	truncateNow(t, name, kept)
	var batch [][]byte
	for i := range 6 {
		batch = append(batch, pattern(200+i, 1000))
	}
	wantFault(t, p.SendBatch(ctx, batch), opSend, name)
	data, err := os.ReadFile(filepath.Join(shm.DefaultDir, shmName(name)))
	if err != nil {
		t.Fatal(err)
	}
	tail := c.tail.Load()
	if len(data) != kept || tail > kept-headerSize {
		t.Fatalf("the object has %d bytes and its tail is at %d, want %d bytes and a tail inside them", len(data), tail, kept)
	}
	for i, m := range batch {
		if bytes.Contains(data[headerSize+tail:], m[:64]) {
			t.Errorf("message %d of the failed batch reached the ring past the tail (%d)", i, tail)
		}
	}
	wantGone(t, name, p, c)
}

// TestFaultingClose: a producer's Close or Abort that faults (it abandons
// a reservation whose page is gone) still gives up the producer's claim in
// the header, which is whole; Abort still marks the queue aborted, and
// Close does not mark it closed, as a fault stops the call before it gets
// there.
func TestFaultingClose(t *testing.T) { forCatchers(t, testFaultingClose) }

func testFaultingClose(t *testing.T) {
	shmtest.SkipShort(t)
	for _, tc := range []struct {
		op         string
		end        func(q *Queue) error
		wantClosed uint32
	}{
		{opClose, (*Queue).Close, closedOpen},
		{opAbort, (*Queue).Abort, closedAborted},
	} {
		t.Run(tc.op, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, faultCapacity, MultiProducer())
			for i := range 9 {
				if err := p.Send(ctx, pattern(i, 1000)); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Receive(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.Reserve(ctx, 100); err != nil {
				t.Fatal(err)
			}
			claim := c.producers[p.p.slot].claim
			truncateNow(t, name, headerSize+2*pageSize)
			wantFault(t, tc.end(p), tc.op, name)
			if got := c.closed.Load(); got != tc.wantClosed {
				t.Errorf("the queue's closed word is %d after the faulting %s, want %d", got, tc.op, tc.wantClosed)
			}
			if pid := claimPID(claim.Load()); pid != 0 {
				t.Errorf("the producer's claim still names pid %d", pid)
			}
			wantGone(t, name, p, c)
		})
	}
}

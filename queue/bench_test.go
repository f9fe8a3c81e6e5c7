//go:build linux

package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
)

var benchSizes = []int{64, 1 << 10, 64 << 10}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// streamBench runs a producer goroutine that send()s until the benchmark
// ends while the benchmark loop receives with recv.
func streamBench(b *testing.B, n int, opts []Option, send func(ctx context.Context, p *Queue, msg []byte) error, recv func(ctx context.Context, c *Queue, buf []byte) ([]byte, error)) {
	_, p, c := pair(b, 4<<20, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, n)
		for {
			if err := send(ctx, p, msg); err != nil {
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	buf := make([]byte, 0, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if buf, err = recv(ctx, c, buf); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func sendOne(ctx context.Context, p *Queue, msg []byte) error { return p.Send(ctx, msg) }
func recvOne(ctx context.Context, c *Queue, buf []byte) ([]byte, error) {
	return c.Receive(ctx, buf)
}

func BenchmarkSendReceive(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) { streamBench(b, n, nil, sendOne, recvOne) })
	}
}

func BenchmarkSendReceiveMPSC(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) { streamBench(b, n, []Option{MultiProducer()}, sendOne, recvOne) })
	}
}

// BenchmarkBackPressure streams 64-byte messages to a consumer that is
// slower than the producer (it does some arithmetic per message), so that
// the ring stays full and the producer waits for room before most sends.
func BenchmarkBackPressure(b *testing.B) {
	slow := func(ctx context.Context, c *Queue, buf []byte) ([]byte, error) {
		buf, err := c.Receive(ctx, buf)
		x := benchSink
		for i := range 40 {
			x = x*31 + uint64(i)
		}
		benchSink = x
		return buf, err
	}
	b.Run("SPSC", func(b *testing.B) { streamBench(b, 64, nil, sendOne, slow) })
	b.Run("MPSC", func(b *testing.B) { streamBench(b, 64, []Option{MultiProducer()}, sendOne, slow) })
}

var benchSink uint64

// BenchmarkSendBatch sends 64 messages per SendBatch: one cursor publish
// per batch.
func BenchmarkSendBatch(b *testing.B) {
	for _, n := range benchSizes[:2] {
		b.Run(sizeName(n), func(b *testing.B) { batchBench(b, n, nil) })
	}
}

// BenchmarkSendBatchMPSC is BenchmarkSendBatch on a multi-producer queue
// (with one producer): one reserve lock per run of up to mpscRun messages.
func BenchmarkSendBatchMPSC(b *testing.B) {
	for _, n := range benchSizes[:2] {
		b.Run(sizeName(n), func(b *testing.B) { batchBench(b, n, []Option{MultiProducer()}) })
	}
}

// batchBench streams n-byte messages, 64 per SendBatch, to a consumer that
// receives them one at a time. An op is one message.
func batchBench(b *testing.B, n int, opts []Option) {
	var batch [][]byte
	streamBench(b, n, opts, func(ctx context.Context, p *Queue, msg []byte) error {
		if batch == nil {
			for range 64 {
				batch = append(batch, msg)
			}
		}
		return p.SendBatch(ctx, batch)
	}, recvOne)
}

// BenchmarkReceiveBatch batches both sides: 64 messages per SendBatch, up
// to 64 per ReceiveBatch. An op is one message.
func BenchmarkReceiveBatch(b *testing.B) {
	for _, n := range benchSizes[:2] {
		b.Run(sizeName(n), func(b *testing.B) {
			_, p, c := pair(b, 4<<20)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				batch := make([][]byte, 64)
				for i := range batch {
					batch[i] = make([]byte, n)
				}
				for {
					if err := p.SendBatch(ctx, batch); err != nil {
						if errors.Is(err, context.Canceled) {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			bufs := make([][]byte, 64)
			for i := range bufs {
				bufs[i] = make([]byte, 0, n)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				k, err := c.ReceiveBatch(ctx, bufs[:min(len(bufs), b.N-got)])
				if err != nil {
					b.Fatal(err)
				}
				got += k
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkStreamProcess streams 64-byte messages from another process:
// one per Send and Receive, or 64 per SendBatch and up to 64 per
// ReceiveBatch; both sides with the fault guard, or both without
// (NoFaultGuard). An op is one message.
func BenchmarkStreamProcess(b *testing.B) {
	for _, bc := range []struct {
		name    string
		batch   int
		noGuard bool
	}{
		{"one", 1, false},
		{"one-noguard", 1, true},
		{"batch", 64, false},
		{"batch-noguard", 64, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts []Option
			noguard := ""
			if bc.noGuard {
				opts, noguard = []Option{NoFaultGuard()}, "1"
			}
			name, _, c := pair(b, 1<<20, opts...)
			k := spawn(b, "stream", name, bc.batch, 64, shmtest.Args{"noguard": noguard})
			bufs := make([][]byte, bc.batch)
			for i := range bufs {
				bufs[i] = make([]byte, 0, 64)
			}
			ctx := context.Background()
			// One message first, so that the child is up.
			up, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := c.Receive(up, nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				var n int
				var err error
				if bc.batch == 1 {
					bufs[0], err = c.Receive(ctx, bufs[0])
					n = 1
				} else {
					n, err = c.ReceiveBatch(ctx, bufs[:min(bc.batch, b.N-got)])
				}
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			b.StopTimer()
			k.kill()
		})
	}
}

// BenchmarkZeroCopy writes and reads in place: Reserve/Commit and
// Peek/Release, touching the first and last byte only.
func BenchmarkZeroCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			streamBench(b, n, nil, func(ctx context.Context, p *Queue, _ []byte) error {
				m, err := p.Reserve(ctx, n)
				if err != nil {
					return err
				}
				m[0], m[n-1] = 1, 2
				return p.Commit()
			}, func(ctx context.Context, c *Queue, buf []byte) ([]byte, error) {
				m, err := c.Peek(ctx)
				if err != nil {
					return buf, err
				}
				if m[0]+m[n-1] != 3 {
					return buf, errors.New("wrong message")
				}
				return buf, c.Release()
			})
		})
	}
}

// BenchmarkRoundTrip measures a message's round trip to another process
// that echoes it back over a second queue.
func BenchmarkRoundTrip(b *testing.B) {
	for _, strategy := range []WaitStrategy{Spin, SpinThenSleep} {
		b.Run(strategy.String(), func(b *testing.B) {
			opts := []Option{Wait(strategy)}
			req, p, _ := pair(b, 1<<16, opts...)
			resp, _, c := pair(b, 1<<16, opts...)
			k := spawnEcho(b, req, resp, strategy)
			ctx := context.Background()
			msg := make([]byte, 64)
			buf := make([]byte, 0, 64)
			var err error
			// One trip first, so that the child is up.
			if err := p.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if buf, err = c.Receive(ctx, buf); err != nil {
				b.Fatal(err)
			}
			roundTrips(b, ctx, p, c, msg, buf)
			p.Close()
			if err := k.wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTripGoroutines is BenchmarkRoundTrip with the echo in a
// goroutine of the same process. Run with -cpu 1, the two goroutines share
// one P, and each wait must let the other have it.
func BenchmarkRoundTripGoroutines(b *testing.B) {
	for _, strategy := range []WaitStrategy{Spin, SpinThenSleep} {
		b.Run(strategy.String(), func(b *testing.B) {
			opts := []Option{Wait(strategy)}
			_, p, echoIn := pair(b, 1<<16, opts...)
			_, echoOut, c := pair(b, 1<<16, opts...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 0, 64)
				var err error
				for {
					if buf, err = echoIn.Receive(ctx, buf); err == nil {
						err = echoOut.Send(ctx, buf)
					}
					if err != nil {
						if errors.Is(err, context.Canceled) {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			roundTrips(b, ctx, p, c, make([]byte, 64), make([]byte, 0, 64))
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// roundTrips times the benchmark's round trips: msg sent on p, its echo
// received from c into buf.
func roundTrips(b *testing.B, ctx context.Context, p, c *Queue, msg, buf []byte) {
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if err = p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if buf, err = c.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
}

func spawnEcho(b *testing.B, req, resp string, s WaitStrategy) *childProc {
	return spawn(b, "echo", req, int(s), 0, shmtest.Args{"resp": resp})
}

// BenchmarkRawPingPong is the floor for comparison, in Go: two
// processes flip one word of shared memory back and forth, spinning.
func BenchmarkRawPingPong(b *testing.B) {
	name := shmtest.Name(b, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	w := mem.MustUint64(seg.Bytes(), 0)
	k := spawn(b, "pingpong", name, 0, 0)
	// Odd values are the parent's pings, even ones the child's pongs.
	v := uint64(0)
	for b.Loop() {
		v++
		w.Store(v)
		for w.Load() != v+1 {
		}
		v++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
	w.Store(1 << 62) // tells the child to stop
	k.wait()
}

// BenchmarkRawRing is the Go limit for the queue's 64-byte round trip,
// with no queue code: each side hands the other messages through a
// 1 MiB ring in shared memory, in one of two layouts, so that the cost of
// the layout shows apart from the cost of the calls.
//
//   - records: the queue's layout. Records of an 8-byte header and the
//     payload lie 72 bytes apart; the sender writes the next record's zero
//     end marker, the payload, and then the header with a release store;
//     the receiver polls the header, copies the payload out and reads the
//     next header, as Receive does to decide whether it caught up.
//   - slots: the raw transport's layout (internal/bench/ring_linux.go). Slots are
//     128 bytes, the payload's line and then a line for the sequence word
//     alone, which the sender writes last and the receiver polls.
//
// In the records layout the line the receiver polls also takes the
// payload's first 56 bytes.
func BenchmarkRawRing(b *testing.B) {
	for layout, name := range []string{"records", "slots"} {
		b.Run(name, func(b *testing.B) {
			r := startRaw(b, "rawring", layout)
			msg, buf := make([]byte, rawMsg), make([]byte, rawMsg)
			for b.Loop() {
				r.out.send(msg)
				r.in.receive(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
			r.stop.Store(1)
			r.out.send(msg)
			if err := r.child.wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRawStream is the Go limit for BenchmarkStreamProcess, with no
// queue code: another process writes 64-byte messages into a
// 1 MiB ring, and this one reads them one at a time, in the two layouts of
// BenchmarkRawRing (with rawRing's send and receive), and in the records
// layout 64 messages at a time (rawRing's sendBatch). The reader publishes
// how far it got every quarter ring; the writer reads that only when the
// ring looks full. An op is one message.
func BenchmarkRawStream(b *testing.B) {
	for layout, name := range []string{"records", "slots", "records-batch"} {
		b.Run(name, func(b *testing.B) {
			r := startRaw(b, "rawstream", layout)
			// One direction only: the child writes the ring that is the
			// driver's out in BenchmarkRawRing, and this side reads it.
			ring := r.out
			buf := make([]byte, rawMsg)
			quarter := uint64(ring.records() / 4)
			b.SetBytes(rawMsg)
			n := uint64(0)
			for b.Loop() {
				ring.receive(buf)
				if n++; n%quarter == 0 {
					mem.StoreRelease64(r.read, n)
				}
			}
			r.stop.Store(1)
			if err := r.child.wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// rawPeers is a segment of the raw benchmarks, seen from the driver's side,
// and the child process that works the other side.
type rawPeers struct {
	out, in *rawRing       // the two directions; layout 1 is slots
	stop    *atomic.Uint64 // set to make the child return
	read    *atomic.Uint64 // BenchmarkRawStream: messages read so far
	child   *childProc
}

// startRaw creates a raw benchmark segment in the given layout (0 records,
// 1 slots, 2 records written in batches) and starts the child role on it.
func startRaw(b *testing.B, role string, layout int) rawPeers {
	name := shmtest.Name(b, "")
	seg, err := shm.Create(name, rawRingSize+4096)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { seg.Close() })
	out, in, stop := newRawRings(seg.Bytes(), layout == 1, true)
	return rawPeers{out: out, in: in, stop: stop, read: rawStreamRead(seg.Bytes()), child: spawn(b, role, name, layout, 0)}
}

// rawStreamRead is BenchmarkRawStream's count of messages read, in the
// page after the rings.
func rawStreamRead(b []byte) *atomic.Uint64 { return mem.MustUint64(b, rawRingSize+64) }

// records is how many messages the ring holds at once, keeping one record's
// room for the end marker.
func (r *rawRing) records() int { return len(r.b)/r.stride - 1 }

const (
	rawMsg      = 64
	rawRingSize = 2 << 20 // both directions
)

// rawRing is one direction of BenchmarkRawRing, seen from one side.
type rawRing struct {
	b      []byte
	words  []atomic.Uint64
	slots  bool
	stride int
	pos    int    // where the next message goes
	seq    uint64 // slots: messages so far
}

// newRawRings splits b into the two directions and a stop word, seen from
// the driver's side or the echo's.
func newRawRings(b []byte, slots, driver bool) (out, in *rawRing, stop *atomic.Uint64) {
	words, err := mem.Uint64s(b, 0, len(b)/8)
	if err != nil {
		panic(err)
	}
	half := rawRingSize / 2
	stride := recordHeader + rawMsg
	if slots {
		stride = 128
	}
	down := &rawRing{b: b[:half], words: words[:half/8], slots: slots, stride: stride}
	up := &rawRing{b: b[half:rawRingSize], words: words[half/8 : rawRingSize/8], slots: slots, stride: stride}
	stop = &words[rawRingSize/8]
	if driver {
		return down, up, stop
	}
	return up, down, stop
}

// next is the position after the current message's.
func (r *rawRing) next() int {
	if p := r.pos + r.stride; p+r.stride <= len(r.b) {
		return p
	}
	return 0
}

func (r *rawRing) send(msg []byte) {
	if r.slots {
		copy(r.b[r.pos:], msg)
		r.seq++
		mem.StoreRelease64(&r.words[(r.pos+rawMsg)/8], r.seq)
	} else {
		next := r.next()
		mem.StoreRelease64(&r.words[next/8], 0) // a MOVQ: an end marker
		copy(r.b[r.pos+recordHeader:], msg)
		mem.StoreRelease64(&r.words[r.pos/8], rawMsg|uint64(kindData)<<(32+kindShift))
	}
	r.pos = r.next()
}

// sendBatch writes n copies of msg in the records layout, the first one's
// header last, so that the receiver sees them all at once, as SendBatch
// publishes a batch.
func (r *rawRing) sendBatch(msg []byte, n int) {
	first, header := r.pos, uint64(rawMsg)|uint64(kindData)<<(32+kindShift)
	for i := range n {
		copy(r.b[r.pos+recordHeader:], msg)
		if i > 0 {
			mem.StoreRelease64(&r.words[r.pos/8], header)
		}
		r.pos = r.next()
	}
	mem.StoreRelease64(&r.words[r.pos/8], 0)
	mem.StoreRelease64(&r.words[first/8], header)
}

func (r *rawRing) receive(buf []byte) {
	if r.slots {
		r.seq++
		for r.words[(r.pos+rawMsg)/8].Load() != r.seq {
		}
		copy(buf, r.b[r.pos:r.pos+rawMsg])
		r.pos = r.next()
		return
	}
	for r.words[r.pos/8].Load() == 0 {
	}
	copy(buf, r.b[r.pos+recordHeader:r.pos+recordHeader+rawMsg])
	r.pos = r.next()
	r.words[r.pos/8].Load() // Receive's caught-up check
}

// benchChild runs the benchmark peers; it is called by child.
func benchChild(role string, a shmtest.Args) error {
	switch role {
	case "echo":
		s := WaitStrategy(a.Int("id"))
		in, err := Open(a["name"], Wait(s))
		if err != nil {
			return err
		}
		out, err := Open(a["resp"], Wait(s))
		if err != nil {
			return err
		}
		ctx := context.Background()
		var buf []byte
		for {
			buf, err = in.Receive(ctx, buf)
			if err == io.EOF {
				return out.Close()
			}
			if err != nil {
				return err
			}
			if err := out.Send(ctx, buf); err != nil {
				return err
			}
		}
	case "stream":
		// Sends count-byte messages, id per call, until killed.
		q, err := openChildQueue(a)
		if err != nil {
			return err
		}
		batch := make([][]byte, a.Int("id"))
		for i := range batch {
			batch[i] = make([]byte, a.Int("count"))
		}
		ctx := context.Background()
		for {
			if len(batch) == 1 {
				err = q.Send(ctx, batch[0])
			} else {
				err = q.SendBatch(ctx, batch)
			}
			if err != nil {
				return err
			}
		}
	case "pingpong":
		seg, err := shm.Open(a["name"])
		if err != nil {
			return err
		}
		w := mem.MustUint64(seg.Bytes(), 0)
		for {
			v := w.Load()
			if v >= 1<<62 {
				return nil
			}
			if v%2 == 1 {
				w.Store(v + 1)
			}
		}
	case "rawstream":
		seg, err := shm.Open(a["name"])
		if err != nil {
			return err
		}
		layout := a.Int("id")
		// It writes the ring that BenchmarkRawStream reads: the driver's
		// out ring, hence driver true.
		out, _, stop := newRawRings(seg.Bytes(), layout == 1, true)
		read := rawStreamRead(seg.Bytes())
		msg := make([]byte, rawMsg)
		batch := 1
		if layout == 2 {
			batch = 64
		}
		room := uint64(out.records() - batch)
		for sent, seen := uint64(0), uint64(0); ; sent += uint64(batch) {
			for sent-seen > room {
				if stop.Load() != 0 {
					return nil
				}
				seen = read.Load()
			}
			if batch == 1 {
				out.send(msg)
			} else {
				out.sendBatch(msg, batch)
			}
		}
	case "rawring":
		seg, err := shm.Open(a["name"])
		if err != nil {
			return err
		}
		out, in, stop := newRawRings(seg.Bytes(), a.Int("id") == 1, false)
		buf := make([]byte, rawMsg)
		for {
			in.receive(buf)
			if stop.Load() != 0 {
				return nil
			}
			out.send(buf)
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// BenchmarkGuard measures the calls themselves, in one goroutine with no
// other CPU involved: a message through TrySend and TryReceive, through
// Send and Receive, through Reserve, Commit, Peek and Release, eight
// through one SendBatch and eight Receives, and eight through one SendBatch
// and one ReceiveBatch. Every exported call pays for how it catches faults
// here (see fault.go), with no cache-line transfer to hide it: the watch
// where the platform has one, else the guard; -guard forces the guard,
// -noguard has neither.
func BenchmarkGuard(b *testing.B) {
	_, p, c := pair(b, 1<<16)
	ctx := context.Background()
	msg := make([]byte, 64)
	buf := make([]byte, 0, 64)
	trySendTryReceive := func(b *testing.B, p, c *Queue) {
		b.ReportAllocs()
		for b.Loop() {
			if err := p.TrySend(msg); err != nil {
				b.Fatal(err)
			}
			var err error
			if buf, err = c.TryReceive(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("TrySendTryReceive", func(b *testing.B) { trySendTryReceive(b, p, c) })
	b.Run("TrySendTryReceive-guard", func(b *testing.B) {
		defer func(was bool) { watchFaults = was }(watchFaults)
		watchFaults = false
		_, p, c := pair(b, 1<<16)
		trySendTryReceive(b, p, c)
	})
	b.Run("TrySendTryReceive-noguard", func(b *testing.B) {
		_, p, c := pair(b, 1<<16, NoFaultGuard())
		trySendTryReceive(b, p, c)
	})
	b.Run("SendReceive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			var err error
			if buf, err = c.Receive(ctx, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ZeroCopy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := p.Reserve(ctx, 64)
			if err != nil {
				b.Fatal(err)
			}
			m[0] = 1
			if err := p.Commit(); err != nil {
				b.Fatal(err)
			}
			if m, err = c.Peek(ctx); err != nil || m[0] != 1 {
				b.Fatal(err)
			}
			if err := c.Release(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Batch8", func(b *testing.B) {
		batch := [][]byte{msg, msg, msg, msg, msg, msg, msg, msg}
		b.ReportAllocs()
		for b.Loop() {
			if err := p.SendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			for range 8 {
				var err error
				if buf, err = c.Receive(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("BatchBoth8", func(b *testing.B) {
		batch := [][]byte{msg, msg, msg, msg, msg, msg, msg, msg}
		bufs := make([][]byte, len(batch))
		for i := range bufs {
			bufs[i] = make([]byte, 0, len(msg))
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := p.SendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			if n, err := c.ReceiveBatch(ctx, bufs); n != len(bufs) || err != nil {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkConsumersProcess streams 64-byte messages from another process
// into a queue with competing consumers, taken by 1 or 2 consumers (each a
// goroutine with a handle of its own) with Receive: the consumers' total
// throughput. An op is one message, whichever consumer took it.
func BenchmarkConsumersProcess(b *testing.B) {
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprint(consumers), func(b *testing.B) {
			name, _, cs := consumersQueue(b, 1<<20, 2)
			k := spawn(b, "stream", name, 1, 64)
			ctx := context.Background()
			up, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := cs[0].Receive(up, nil); err != nil {
				b.Fatal(err)
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			errs := make(chan error, consumers)
			b.SetBytes(64)
			b.ResetTimer()
			for _, c := range cs[:consumers] {
				go func() {
					buf := make([]byte, 0, 64)
					var err error
					for left.Add(-1) >= 0 && err == nil {
						buf, err = c.Receive(ctx, buf)
					}
					errs <- err
				}()
			}
			for range consumers {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			k.kill()
		})
	}
}

package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// pair creates a queue and returns a producer and a consumer handle on it,
// closed when the test ends.
func pair(t testing.TB, capacity int64, opts ...Option) (name string, p, c *Queue) {
	t.Helper()
	name = shmtest.Name(t, "")
	p, err := Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err = Open(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return name, p, c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bothModes are the two kinds of queue that most tests run against.
var bothModes = []struct {
	name string
	opts []Option
}{{"spsc", nil}, {"mpsc", []Option{MultiProducer()}}}

// pattern fills a message that tells its index and size apart.
func pattern(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

func TestLayoutConstants(t *testing.T) {
	if got := binary.LittleEndian.Uint64([]byte("SHMQUEUE")); got != magic {
		t.Errorf("magic %#x, want %#x", magic, got)
	}
	// Cursors and the words next to them each own a cache line.
	lines := map[string]int{"tail": offTail / 64, "head": offHead / 64, "lock": offLock / 64, "static": offSlots / 64}
	seen := map[int]string{}
	for f, l := range lines {
		if o, dup := seen[l]; dup {
			t.Errorf("%s and %s share cache line %d", f, o, l)
		}
		seen[l] = f
	}
	if offProducers+maxSlots*slotSize > headerSize {
		t.Errorf("producer slots end at %d, past the header's %d bytes", offProducers+maxSlots*slotSize, headerSize)
	}
	for _, tc := range []struct {
		kind uint32
		slot int
		gen  uint32
	}{{kindData, 0, 1}, {kindPending, 63, genMask}, {kindSkip, 17, genMask + 5}} {
		st := recordState(tc.kind, tc.slot, tc.gen)
		if stateKind(st) != tc.kind || stateSlot(st) != tc.slot || stateGen(st) != tc.gen&genMask {
			t.Errorf("recordState(%d,%d,%d) = %#x decodes to %d,%d,%d", tc.kind, tc.slot, tc.gen, st, stateKind(st), stateSlot(st), stateGen(st))
		}
	}
}

func TestCreateErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []Option
	}{
		{"not a power of two", 1000, nil},
		{"too small", 32, nil},
		{"too large", MaxCapacity * 2, nil},
		{"max message over half", 4096, []Option{MaxMessage(4096/2 - 7)}},
		{"negative max message", 4096, []Option{MaxMessage(-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			q, err := Create(name, tc.capacity, tc.opts...)
			if err == nil {
				q.Close()
				t.Fatal("Create succeeded")
			}
			if !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("error %v does not match fs.ErrInvalid", err)
			}
			if _, serr := shm.Stat(name); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("a failed Create left the object behind: %v", serr)
			}
		})
	}
	name := shmtest.Name(t, "")
	q, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := Create(name, 4096); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create: %v, want fs.ErrExist", err)
	}
}

func TestOpenNotQueue(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if _, err := Open(name); !errors.Is(err, ErrNotQueue) {
		t.Fatalf("Open of a plain segment: %v, want ErrNotQueue", err)
	}
	q, err := Create(shmtest.Name(t, ""), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// The same header with another version.
	hdr := make([]byte, headerSize)
	copy(hdr, q.seg.Bytes())
	binary.LittleEndian.PutUint32(hdr[offVersion:], 99)
	seg.WriteAt(hdr, 0)
	if _, err := Open(name); !errors.Is(err, ErrVersion) {
		t.Fatalf("Open of version 99: %v, want ErrVersion", err)
	}
	// Layout version 1 told peers alive by pid and start time, which this
	// package does not trust: refused, with both versions named.
	binary.LittleEndian.PutUint32(hdr[offVersion:], 1)
	seg.WriteAt(hdr, 0)
	if _, err := Open(name); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "layout version 1, this package reads 2") {
		t.Fatalf("Open of version 1: %v, want ErrVersion naming versions 1 and 2", err)
	}
	if _, err := Stat(name); !errors.Is(err, ErrVersion) {
		t.Fatalf("Stat of version 1: %v, want ErrVersion", err)
	}
	if _, err := Open(shmtest.Name(t, "")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing name: %v, want fs.ErrNotExist", err)
	}
}

func TestSizes(t *testing.T) {
	ctx := ctxT(t)
	_, p, c := pair(t, 4096)
	for _, n := range []int{0, 1, 7, 8, 9, 100, p.MaxMessage()} {
		msg := pattern(n, n)
		if err := p.Send(ctx, msg); err != nil {
			t.Fatalf("Send %d bytes: %v", n, err)
		}
		got, err := c.Receive(ctx, nil)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Receive of a %d-byte message: %d bytes, %v", n, len(got), err)
		}
	}
	if err := p.Send(ctx, make([]byte, p.MaxMessage()+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Send of MaxMessage+1 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := p.Reserve(ctx, p.MaxMessage()+1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Reserve of MaxMessage+1 bytes: %v, want ErrTooLarge", err)
	}
}

// TestWrapEveryOffset starts a message of every size at every 8-byte
// offset of a small ring, so that every way of meeting the ring's end is
// taken, in both modes.
func TestWrapEveryOffset(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			const capacity = 128
			_, p, c := pair(t, capacity, mode.opts...)
			var buf []byte
			i := 0
			for start := 0; start < capacity; start += 8 {
				for n := 0; n <= p.MaxMessage(); n++ {
					// Move the cursors to start with empty messages.
					for p.tail.Load()%capacity != uint64(start) {
						if err := p.Send(ctx, nil); err != nil {
							t.Fatal(err)
						}
						if _, err := c.Receive(ctx, buf); err != nil {
							t.Fatal(err)
						}
					}
					msg := pattern(i, n)
					i++
					if err := p.Send(ctx, msg); err != nil {
						t.Fatalf("start %d size %d: %v", start, n, err)
					}
					var err error
					buf, err = c.Receive(ctx, buf)
					if err != nil || !bytes.Equal(buf, msg) {
						t.Fatalf("start %d size %d: got %d bytes, %v", start, n, len(buf), err)
					}
				}
			}
		})
	}
}

func TestBackPressure(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"spsc", nil}, {"mpsc", []Option{MultiProducer()}}, {"block", []Option{Wait(Block)}}, {"spin", []Option{Wait(Spin)}}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, p, c := pair(t, 1024, mode.opts...)
			sent := 0
			for ; ; sent++ {
				err := p.TrySend(pattern(sent, 56))
				if err == ErrFull {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			// A single-producer ring keeps one word free for its end marker.
			want := 1024/64 - 1
			if p.IsMultiProducer() {
				want = 1024 / 64
			}
			if sent != want {
				t.Errorf("a 1024-byte ring took %d 56-byte messages, want %d", sent, want)
			}
			// A blocked Send goes on once the consumer makes room.
			const more = 200
			done := make(chan error, 1)
			go func() {
				for i := range more {
					if err := p.Send(ctx, pattern(sent+i, 56)); err != nil {
						done <- err
						return
					}
				}
				done <- p.Close()
			}()
			var buf []byte
			for i := 0; ; i++ {
				var err error
				buf, err = c.Receive(ctx, buf)
				if err == io.EOF {
					if i != sent+more {
						t.Errorf("EOF after %d messages, want %d", i, sent+more)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf, pattern(i, 56)) {
					t.Fatalf("message %d is wrong", i)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCloseEOF(t *testing.T) {
	ctx := ctxT(t)
	_, p, c := pair(t, 4096)
	if _, err := c.TryReceive(nil); err != ErrEmpty {
		t.Fatalf("TryReceive on an empty queue: %v, want ErrEmpty", err)
	}
	for i := range 3 {
		if err := p.Send(ctx, pattern(i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Send(ctx, nil); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Send after Close: %v, want shm.ErrClosed", err)
	}
	for i := range 3 {
		got, err := c.Receive(ctx, nil)
		if err != nil || !bytes.Equal(got, pattern(i, i)) {
			t.Fatalf("message %d after Close: %v %v", i, got, err)
		}
	}
	for range 2 {
		if _, err := c.Receive(ctx, nil); err != io.EOF {
			t.Fatalf("Receive after the drain: %v, want io.EOF", err)
		}
	}
	if _, err := c.TryReceive(nil); err != io.EOF {
		t.Fatalf("TryReceive after the drain: %v, want io.EOF", err)
	}
	// A waiting consumer is woken by Close.
	name, p2, c2 := pair(t, 4096)
	_ = name
	if err := p2.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		p2.Close()
		close(closed)
	}()
	defer func() { <-closed }()
	if _, err := c2.Receive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Receive(ctx, nil); err != io.EOF {
		t.Fatalf("Receive while the producer closes: %v, want io.EOF", err)
	}
}

func TestReopenAfterClose(t *testing.T) {
	ctx := ctxT(t)
	name, p, c := pair(t, 4096)
	p.Send(ctx, []byte("one"))
	p.Close()
	p2, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Send(ctx, []byte("two")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		got, err := c.Receive(ctx, nil)
		if err != nil || string(got) != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	p2.Close()
	if _, err := c.Receive(ctx, nil); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

func TestBusy(t *testing.T) {
	ctx := ctxT(t)
	name, p, c := pair(t, 4096)
	if err := p.Send(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Receive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	other, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Send(ctx, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second producer: %v, want ErrBusy", err)
	}
	if _, err := other.TryReceive(nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second consumer: %v, want ErrBusy", err)
	}
}

func TestZeroCopy(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, p, c := pair(t, 256, mode.opts...)
			for i := range 100 {
				n := i % 40
				b, err := p.Reserve(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != n {
					t.Fatalf("Reserve(%d) gave %d bytes", n, len(b))
				}
				copy(b, pattern(i, n))
				if err := p.Send(ctx, nil); err == nil {
					t.Fatal("Send during a Reserve succeeded")
				}
				if err := p.Commit(); err != nil {
					t.Fatal(err)
				}
				m, err := c.Peek(ctx)
				if err != nil {
					t.Fatal(err)
				}
				again, err := c.Peek(ctx)
				if err != nil || (n > 0 && &again[0] != &m[0]) {
					t.Fatalf("second Peek gave another message: %v", err)
				}
				if !bytes.Equal(m, pattern(i, n)) {
					t.Fatalf("message %d: got %v", i, m)
				}
				if err := c.Release(); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Commit(); err == nil {
				t.Error("Commit without Reserve succeeded")
			}
			if err := c.Release(); err == nil {
				t.Error("Release without Peek succeeded")
			}
			// An abandoned reservation is never received.
			if _, err := p.Reserve(ctx, 10); err != nil {
				t.Fatal(err)
			}
			p.Close()
			if m, err := c.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after an abandoned Reserve: %q, %v, want io.EOF", m, err)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int64
		count    int // messages in the batch
		sizes    int // message i has i%sizes bytes
		opts     []Option
	}{
		// The ring takes about 15 of them: the batch wraps and waits for room.
		{"spsc", 1024, 100, 60, nil},
		{"mpsc", 1024, 100, 60, []Option{MultiProducer()}},
		// More messages than one reservation takes, with room for them all.
		{"mpsc-runs", 1 << 16, 3*mpscRun + 5, 8, []Option{MultiProducer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, p, c := pair(t, tc.capacity, tc.opts...)
			var msgs [][]byte
			for i := range tc.count {
				msgs = append(msgs, pattern(i, i%tc.sizes))
			}
			done := make(chan error, 1)
			go func() { done <- p.SendBatch(ctx, msgs) }()
			for i := range msgs {
				got, err := c.Receive(ctx, nil)
				if err != nil || !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d: %q, %v, want %q", i, got, err, msgs[i])
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBatchTooLarge sends a batch with a message over the maximum in the
// middle: the messages before it are sent, the call fails with ErrTooLarge,
// and nothing after it is sent.
func TestBatchTooLarge(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, p, c := pair(t, 4096, append(mode.opts, MaxMessage(100))...)
			msgs := [][]byte{pattern(0, 10), pattern(1, 100), pattern(2, 101), pattern(3, 10)}
			if err := p.SendBatch(ctx, msgs); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("SendBatch: %v, want ErrTooLarge", err)
			}
			for i := range 2 {
				if got, err := c.Receive(ctx, nil); err != nil || !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d: %q, %v, want %q", i, got, err, msgs[i])
				}
			}
			if got, err := c.TryReceive(nil); err != ErrEmpty {
				t.Fatalf("after the oversized message: %q, %v, want ErrEmpty", got, err)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	_, p, c := pair(t, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive on an empty queue: %v, want DeadlineExceeded", err)
	}
	for p.TrySend(make([]byte, 100)) == nil {
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel2() }()
	if err := p.Send(ctx2, make([]byte, 100)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send on a full queue: %v, want Canceled", err)
	}
}

// TestMPSCGoroutines sends from several handles at once, one per goroutine,
// half of them in batches, and checks per-producer order and that nothing
// is lost or duplicated.
func TestMPSCGoroutines(t *testing.T) {
	ctx := ctxT(t)
	name, _, c := pair(t, 4096, MultiProducer())
	const producers, each = 4, 5000
	var wg, opened sync.WaitGroup
	errs := make(chan error, producers)
	opened.Add(producers)
	for id := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every producer takes its slot before any sends: the queue reads
			// as closed (io.EOF) once the producers that hold slots have all
			// closed, so one that came late would find it ended.
			q, err := Open(name)
			if err == nil {
				err = q.claimProducer()
			}
			opened.Done()
			if err != nil {
				errs <- err
				return
			}
			defer q.Close()
			opened.Wait()
			// Odd producers send in batches of up to 7, even ones one by one.
			var bufs [7][12]byte
			batch := make([][]byte, 0, len(bufs))
			for i := 0; i < each; {
				k := 1
				if id%2 == 1 {
					k = min(1+i%len(bufs), each-i)
				}
				batch = batch[:0]
				for j := range k {
					m := bufs[j][:]
					binary.LittleEndian.PutUint32(m, uint32(id))
					binary.LittleEndian.PutUint64(m[4:], uint64(i+j))
					batch = append(batch, m[:4+(i+j)%9])
				}
				var err error
				if k == 1 {
					err = q.Send(ctx, batch[0])
				} else {
					err = q.SendBatch(ctx, batch)
				}
				if err != nil {
					errs <- err
					return
				}
				i += k
			}
		}()
	}
	next := make([]int, producers)
	var buf []byte
	for total := 0; total < producers*each; total++ {
		var err error
		buf, err = c.Receive(ctx, buf)
		if err != nil {
			t.Fatalf("after %d messages: %v", total, err)
		}
		id := binary.LittleEndian.Uint32(buf)
		if id >= producers || len(buf) != 4+next[id]%9 {
			t.Fatalf("message %q is not one that was sent", buf)
		}
		var full [12]byte
		copy(full[:], buf)
		want := next[id]
		if got := int(binary.LittleEndian.Uint64(full[4:])); len(buf) == 12 && got != want {
			t.Fatalf("producer %d: message %d came when %d was due", id, got, want)
		}
		next[id]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := c.Receive(ctx, nil); err != io.EOF {
		t.Fatalf("after all producers closed: %v, want io.EOF", err)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			_, p, c := pair(t, 4096, mode.opts...)
			msg := make([]byte, 64)
			buf := make([]byte, 0, 64)
			batch := [][]byte{msg, msg, msg}
			recv := [][]byte{make([]byte, 0, 64), make([]byte, 0, 64), make([]byte, 0, 64)}
			allocs := testing.AllocsPerRun(1000, func() {
				p.Send(ctx, msg)
				buf, _ = c.Receive(ctx, buf)
				p.TrySend(msg)
				buf, _ = c.TryReceive(buf)
				b, _ := p.Reserve(ctx, 64)
				copy(b, msg)
				p.Commit()
				c.Peek(ctx)
				c.Release()
				p.SendBatch(ctx, batch)
				c.ReceiveBatch(ctx, recv)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per round, want 0", allocs)
			}
		})
	}
}

func TestStatProbe(t *testing.T) {
	ctx := ctxT(t)
	name, p, c := pair(t, 4096, MultiProducer(), MaxMessage(100))
	for i := range 5 {
		if err := p.Send(ctx, pattern(i, 10*i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Receive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c.publishHead()
	st, err := Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(recSize(10) + recSize(20) + recSize(30) + recSize(40))
	if st.Messages != 4 || st.Bytes != want || st.Capacity != 4096 || st.MaxMessage != 100 || !st.MultiProducer || st.Closed {
		t.Errorf("Stat = %+v, want 4 messages in %d bytes", st, want)
	}
	if st.Consumer == nil || !st.Consumer.Alive || len(st.Producers) != 1 || !st.Producers[0].Alive {
		t.Errorf("Stat peers: consumer %+v producers %+v", st.Consumer, st.Producers)
	}
	if f := st.Fill(); f <= 0 || f >= 1 {
		t.Errorf("Fill %v", f)
	}
	pr, err := Probe(c.seg.Bytes()[:headerSize])
	if err != nil || pr.Messages != -1 || pr.Bytes != want {
		t.Errorf("Probe = %+v, %v", pr, err)
	}
	// Probe has no file to ask for the roles' locks; ProbeFile has.
	if pr.Consumer == nil || !pr.Consumer.LivenessUnknown || pr.Consumer.Alive || len(pr.Producers) != 1 || !pr.Producers[0].LivenessUnknown {
		t.Errorf("Probe peers: consumer %+v producers %+v, want liveness unknown", pr.Consumer, pr.Producers)
	}
	f, err := os.Open(c.seg.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err = ProbeFile(c.seg.Bytes()[:headerSize], f)
	if err != nil || pr.Consumer == nil || !pr.Consumer.Alive || pr.Consumer.LivenessUnknown || pr.Consumer.OtherNamespace || len(pr.Producers) != 1 || !pr.Producers[0].Alive {
		t.Errorf("ProbeFile = %+v, %v; want both peers alive in this PID namespace", pr, err)
	}
	if got, want := pr.Producers[0].String(), fmt.Sprintf("pid %d (alive)", os.Getpid()); got != want {
		t.Errorf("producer %q, want %q", got, want)
	}
	if _, err := Probe(make([]byte, headerSize)); !errors.Is(err, ErrNotQueue) {
		t.Errorf("Probe of zeros: %v, want ErrNotQueue", err)
	}
	// A broken record is reported with where it is.
	binary.LittleEndian.PutUint32(c.ring[c.c.head&c.mask:], 5000)
	_, err = Stat(name)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Stat of a corrupt ring: %v, want ErrCorrupt", err)
	}
	t.Log(err)
	if _, err := c.Receive(ctx, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Receive of a corrupt record: %v, want ErrCorrupt", err)
	}
}

func TestDetach(t *testing.T) {
	ctx := ctxT(t)
	name, p, c := pair(t, 4096)
	if err := p.Send(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := p.Detach(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Receive(ctx, nil); err != nil || string(got) != "a" {
		t.Fatalf("got %q %v", got, err)
	}
	// Not closed: the consumer waits (and does not report a dead peer).
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive after Detach: %v, want DeadlineExceeded", err)
	}
	p2, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	p2.Send(ctx, []byte("b"))
	p2.Close()
	if got, err := c.Receive(ctx, nil); err != nil || string(got) != "b" {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := c.Receive(ctx, nil); err != io.EOF {
		t.Fatalf("after Close: %v, want io.EOF", err)
	}
}

func TestIDTellsQueuesApart(t *testing.T) {
	name := shmtest.Name(t, "")
	first, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	id := first.ID()
	if id == (ID{}) {
		t.Fatal("Create left the ID zero")
	}
	peer, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if peer.ID() != id {
		t.Fatalf("Open sees ID %v, Create wrote %v", peer.ID(), id)
	}
	peer.Close()
	first.Close()
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
	again, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ID() == id {
		t.Fatalf("a queue created again under the same name has the same ID %v", id)
	}
}

// TestBecomeProducer: a handle that becomes the producer and sends nothing
// closes the queue with its Close (the consumer gets io.EOF), while one
// that never did leaves it open; with another live single producer it
// fails with ErrBusy.
func TestBecomeProducer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		become bool
		want   error
	}{{"become", true, io.EOF}, {"never", false, ErrEmpty}} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			c, err := Create(name, 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			if tc.become {
				if err := p.BecomeProducer(); err != nil {
					t.Fatal(err)
				}
				other, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				if err := other.BecomeProducer(); !errors.Is(err, ErrBusy) {
					t.Errorf("BecomeProducer while another handle is the producer: %v, want ErrBusy", err)
				}
				other.Close()
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.TryReceive(nil); err != tc.want {
				t.Fatalf("TryReceive after the Close: %v, want %v", err, tc.want)
			}
		})
	}
}

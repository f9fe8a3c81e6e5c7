//go:build linux

package lock_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

const (
	offDouble   = 4096 // the DoubleBuffer of the dwrite and dread roles
	doubleFrame = 64 << 10
)

// fillFrame makes frame k: k, data derived from k, and a checksum.
func fillFrame(b []byte, k uint64) {
	binary.NativeEndian.PutUint64(b, k)
	h := k
	for i := 8; i < len(b)-8; i += 8 {
		w := mix(k<<20 + uint64(i))
		binary.NativeEndian.PutUint64(b[i:], w)
		h = (h<<7 | h>>57) ^ w
	}
	binary.NativeEndian.PutUint64(b[len(b)-8:], h)
}

// frameOK checks a frame's checksum and returns its number.
func frameOK(b []byte) (uint64, bool) {
	k := binary.NativeEndian.Uint64(b)
	h := k
	for i := 8; i < len(b)-8; i += 8 {
		h = (h<<7 | h>>57) ^ binary.NativeEndian.Uint64(b[i:])
	}
	return k, h == binary.NativeEndian.Uint64(b[len(b)-8:]) || k == 0 && h == 0
}

// doubleChild runs the roles on the DoubleBuffer at offDouble, for the
// duration arg:
//
//	dwrite  publish frames 1, 2, 3, ... without pause, every other one
//	        written in place (Loan, Publish); say "wrote N"
//	dloan-hang  publish frame 1, loan frame 2, half fill it, say "loaned"
//	        and hang until killed
//	dread   Read (even tries) and Wait (odd tries) frames and check them:
//	        never torn, numbers never going back (Wait: always forward);
//	        say "read N torn T busy B"
func doubleChild(seg *shm.Segment, role, arg string) error {
	d, err := lock.DoubleBufferAt(seg, offDouble, doubleFrame, lock.ReadTimeout(200*time.Millisecond))
	if err != nil {
		return err
	}
	buf := make([]byte, doubleFrame)
	if role == "dloan-hang" {
		// Publish frame 1, loan frame 2, fill half of it, and hang.
		fillFrame(buf, 1)
		if err := d.Write(buf); err != nil {
			return err
		}
		b, err := d.Loan()
		if err != nil {
			return err
		}
		fillFrame(buf, 2)
		copy(b[:len(b)/2], buf)
		fmt.Println("loaned")
		time.Sleep(time.Hour)
		return nil
	}
	dur, err := time.ParseDuration(arg)
	if err != nil {
		return err
	}
	end := time.Now().Add(dur)
	if role == "dwrite" {
		k := uint64(0)
		for time.Now().Before(end) {
			k++
			if k%2 == 0 {
				fillFrame(buf, k)
				if err := d.Write(buf); err != nil {
					return err
				}
				continue
			}
			b, err := d.Loan()
			if err != nil {
				return err
			}
			fillFrame(b, k)
			if err := d.Publish(); err != nil {
				return err
			}
		}
		fmt.Println("wrote", k)
		return d.Close()
	}
	var reads, torn, busy int
	var last uint64
	var ver lock.Version
	for i := 0; time.Now().Before(end); i++ {
		var err error
		if i%2 == 0 {
			ver, err = d.Read(buf)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			ver, err = d.Wait(ctx, buf, ver)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lock.ErrWriterClosed) {
				continue
			}
		}
		if errors.Is(err, lock.ErrBusy) {
			busy++
			continue
		}
		if err != nil {
			return err
		}
		reads++
		k, ok := frameOK(buf)
		if !ok {
			torn++
			continue
		}
		if k < last || i%2 == 1 && k == last && k != 0 {
			return fmt.Errorf("frame %d after frame %d", k, last)
		}
		last = k
	}
	fmt.Println("read", reads, "torn", torn, "busy", busy)
	return nil
}

// TestDoubleBufferProcesses: a writer process publishes 64 KiB frames
// without pause, half of them written in place, while two reader processes
// Read and Wait: no frame is torn, none goes back.
func TestDoubleBufferProcesses(t *testing.T) {
	shmtest.SkipShort(t)
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, int64(offDouble+lock.DoubleBufferSize(doubleFrame)))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var readers []*child
	for range 2 {
		readers = append(readers, startChild(t, "dread", name, "1s"))
	}
	w := startChild(t, "dwrite", name, "1s")
	wl := w.line(t, 30*time.Second)
	if err := w.wait(t, 30*time.Second); err != nil {
		t.Fatalf("writer: %v", err)
	}
	for _, r := range readers {
		l := r.line(t, 30*time.Second)
		if err := r.wait(t, 30*time.Second); err != nil {
			t.Fatalf("reader: %v", err)
		}
		var reads, torn, busy int
		if _, err := fmt.Sscanf(l, "read %d torn %d busy %d", &reads, &torn, &busy); err != nil {
			t.Fatalf("reader said %q", l)
		}
		t.Logf("writer %s; reader: %s", wl, l)
		if torn != 0 || reads == 0 {
			t.Fatalf("reader: %s", l)
		}
	}
}

// TestDoubleBuffer covers the calls in one process.
func TestDoubleBuffer(t *testing.T) {
	seg, _ := newSeg(t)
	const n = 100
	if got := lock.DoubleBufferSize(n); got != lock.SeqlockSize(8)+2*lock.SeqlockSize(8+n) {
		t.Fatalf("DoubleBufferSize(%d) = %d", n, got)
	}
	d, err := lock.DoubleBufferAt(seg, 64, n)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, n)
	if v, err := d.Read(p); err != nil || v != 0 || string(p) != string(make([]byte, n)) {
		t.Fatalf("Read of a fresh buffer = %d, %v, %v", v, err, p)
	}
	if st, _ := d.Writer(); st != lock.NoWriter {
		t.Fatalf("Writer of a fresh buffer = %v", st)
	}
	frame := func(c byte) []byte { return []byte(strings.Repeat(string(c), n)) }
	if err := d.Write(frame('a')); err != nil {
		t.Fatal(err)
	}
	v1, err := d.Read(p)
	if err != nil || string(p) != string(frame('a')) {
		t.Fatalf("Read after Write = %q, %v", p, err)
	}
	// A loan is not seen before Publish, and the same bytes come back.
	b, err := d.Loan()
	if err != nil || len(b) != n {
		t.Fatalf("Loan = %d bytes, %v", len(b), err)
	}
	copy(b, frame('b'))
	if b2, _ := d.Loan(); &b2[0] != &b[0] {
		t.Fatal("a second Loan before Publish gave other bytes")
	}
	if v, err := d.Read(p); err != nil || v != v1 || string(p) != string(frame('a')) {
		t.Fatalf("Read during a loan = %q, %v", p, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Wait(context.Background(), make([]byte, n), v1)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := d.Publish(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait woken by Publish = %v", err)
	}
	v2, err := d.Read(p)
	if err != nil || v2 == v1 || string(p) != string(frame('b')) {
		t.Fatalf("Read after Publish = %q, %v", p, err)
	}
	if err := d.Publish(); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("Publish without a Loan = %v", err)
	}
	if err := d.Write(p[:3]); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("Write of 3 bytes = %v", err)
	}
	// Many frames: each Read gives the last.
	for c := byte('c'); c <= 'z'; c++ {
		if err := d.Write(frame(c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Read(p); err != nil || string(p) != string(frame('z')) {
		t.Fatalf("Read after many = %q, %v", p, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	v, _ := d.Read(p)
	if _, err := d.Wait(context.Background(), p, v); !errors.Is(err, lock.ErrWriterClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
	if _, err := lock.DoubleBufferIn(make([]byte, lock.DoubleBufferSize(n)-8), n); !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), "DoubleBufferSize(100)") {
		t.Fatalf("DoubleBufferIn short = %v", err)
	}
}

// TestDoubleBufferWriterKilledMidLoan: a writer killed with a frame half
// written in place leaves readers the frame before, whole, and a waiting
// reader ErrWriterDead within one second; the next writer's frames come
// through.
func TestDoubleBufferWriterKilledMidLoan(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, int64(offDouble+lock.DoubleBufferSize(doubleFrame)))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	d, err := lock.DoubleBufferAt(seg, offDouble, doubleFrame)
	if err != nil {
		t.Fatal(err)
	}
	w := startChild(t, "dloan-hang", name, "")
	expect(t, w, "loaned")
	buf := make([]byte, doubleFrame)
	v, err := d.Read(buf)
	if k, ok := frameOK(buf); err != nil || !ok || k != 1 {
		t.Fatalf("Read during the loan = frame %d (whole %v), %v", k, ok, err)
	}
	done := make(chan error, 1)
	go func() { _, err := d.Wait(context.Background(), make([]byte, doubleFrame), v); done <- err }()
	time.Sleep(50 * time.Millisecond)
	w.kill(t)
	killed := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, lock.ErrWriterDead) {
			t.Fatalf("Wait after the kill = %v, want ErrWriterDead", err)
		}
		if d := time.Since(killed); d >= orphanBound {
			t.Fatalf("ErrWriterDead %v after the kill", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not see the writer's death")
	}
	w.killed(t)
	if st, _ := d.Writer(); st != lock.WriterDead {
		t.Fatalf("Writer after the kill = %v", st)
	}
	// This process writes on: the half-written slot is taken over.
	for k := uint64(3); k <= 6; k++ {
		fillFrame(buf, k)
		if err := d.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Read(buf); err != nil {
			t.Fatal(err)
		}
		if got, ok := frameOK(buf); !ok || got != k {
			t.Fatalf("after the takeover, Read = frame %d (whole %v), want %d", got, ok, k)
		}
	}
}

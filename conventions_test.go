//go:build linux

package shm_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/sem"
	"github.com/shmkit/shm/topic"
)

// The tests in this file check the conventions that every package of the
// module follows (docs/ARCHITECTURE.md, "API conventions") where they are
// behaviour, across the packages at once.

// TestErrorSpelling checks that every call by name on a missing object
// fails with a *shm.Error whose Op is the package's kind and the verb and
// whose Name is the name as the caller gave it (leading slash included),
// whatever package made it, and that it matches fs.ErrNotExist.
func TestErrorSpelling(t *testing.T) {
	name := shmtest.Name(t, "")
	given := "/" + name
	tests := []struct {
		op   string
		call func() error
	}{
		{"open", func() error { _, err := shm.Open(given); return err }},
		{"stat", func() error { _, err := shm.Stat(given); return err }},
		{"unlink", func() error { return shm.Unlink(given) }},
		{"queue open", func() error { _, err := queue.Open(given); return err }},
		{"queue stat", func() error { _, err := queue.Stat(given); return err }},
		{"queue unlink", func() error { return queue.Unlink(given) }},
		{"topic open", func() error { _, err := topic.Open(given); return err }},
		{"topic stat", func() error { _, err := topic.Stat(given); return err }},
		{"topic unlink", func() error { return topic.Unlink(given) }},
		{"sem open", func() error { _, err := sem.Open(given); return err }},
		{"sem stat", func() error { _, err := sem.Stat(given); return err }},
		{"sem unlink", func() error { return sem.Unlink(given) }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			err := tt.call()
			var e *shm.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (%T), want a *shm.Error", err, err)
			}
			if e.Op != tt.op || e.Name != given {
				t.Errorf("got Op %q Name %q, want Op %q Name %q (error %q)", e.Op, e.Name, tt.op, given, err)
			}
			if want := "shm " + tt.op + " " + given + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not begin with %q", err, want)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q does not match fs.ErrNotExist", err)
			}
		})
	}
}

// TestCreateOpenRule checks the three constructors of every package on
// one name: Create of a taken name fails with fs.ErrExist and the
// package's "create" Op, and OpenOrCreate of it opens it and says it did
// not create it.
func TestCreateOpenRule(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	// The queue, topic and semaphore each get a name of their own: the
	// semaphore's file is sem.NAME, the others are NAME itself.
	qn, tn := name+"-q", name+"-t"
	q, err := queue.Create(qn, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.Unlink(qn)
	defer q.Close()
	tp, err := topic.Create(tn, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(tn)
	defer tp.Close()
	s, err := sem.Create(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Unlink(name)
	defer s.Close()
	tests := []struct {
		op           string
		create       func() error
		openOrCreate func() (created bool, err error)
	}{
		{"create",
			func() error { _, err := shm.Create(name, 4096); return err },
			func() (bool, error) {
				h, c, err := shm.OpenOrCreate(name, 4096)
				if err == nil {
					h.Close()
				}
				return c, err
			}},
		{"queue create",
			func() error { _, err := queue.Create(qn, 4096); return err },
			func() (bool, error) {
				h, c, err := queue.OpenOrCreate(qn, 4096)
				if err == nil {
					h.Detach()
				}
				return c, err
			}},
		{"topic create",
			func() error { _, err := topic.Create(tn, 4096); return err },
			func() (bool, error) {
				h, c, err := topic.OpenOrCreate(tn, 4096)
				if err == nil {
					h.Detach()
				}
				return c, err
			}},
		{"sem create",
			func() error { _, err := sem.Create(name, 0); return err },
			func() (bool, error) {
				h, c, err := sem.OpenOrCreate(name, 0)
				if err == nil {
					h.Close()
				}
				return c, err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			err := tt.create()
			var e *shm.Error
			if !errors.Is(err, fs.ErrExist) || !errors.As(err, &e) || e.Op != tt.op {
				t.Errorf("Create of a taken name: %v; want a *shm.Error with Op %q matching fs.ErrExist", err, tt.op)
			}
			if created, err := tt.openOrCreate(); err != nil || created {
				t.Errorf("OpenOrCreate of an existing object: created %v, %v; want it opened", created, err)
			}
		})
	}
}

// TestHandleErrorSpelling checks that the errors of a handle's methods
// name the object as the caller spelled it when opening it, while the
// handle's Name method gives it without the leading slash.
func TestHandleErrorSpelling(t *testing.T) {
	name := shmtest.Name(t, "")
	given := "/" + name
	seg, err := shm.Create(given, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	shm.Unlink(name)
	q, err := queue.Create(given, 4096)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	queue.Unlink(name)
	tp, err := topic.Create(given, 4096)
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	topic.Unlink(name)
	tests := []struct {
		op     string
		handle string
		call   func() error
	}{
		{"write", seg.Name(), func() error { _, err := seg.WriteAt([]byte{1}, 0); return err }},
		{"queue send", q.Name(), func() error { return q.TrySend([]byte{1}) }},
		{"topic publish", tp.Name(), func() error { return tp.TryPublish([]byte{1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			if tt.handle != name {
				t.Errorf("Name() = %q, want %q", tt.handle, name)
			}
			err := tt.call()
			var e *shm.Error
			if !errors.As(err, &e) || e.Op != tt.op || e.Name != given {
				t.Errorf("got %v, want a *shm.Error with Op %q and Name %q", err, tt.op, given)
			}
		})
	}
}

// TestClosedSentinel checks that every package reports a closed handle,
// and an attach to a closed segment, with the one sentinel shm.ErrClosed.
func TestClosedSentinel(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	shm.Unlink(name)
	q, err := queue.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	queue.Unlink(name)
	tp, err := topic.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	topic.Unlink(name)
	s, _, err := sem.OpenOrCreate(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sem.Unlink(name)
	tests := []struct {
		what string
		call func() error
	}{
		{"Segment.ReadAt", func() error { _, err := seg.ReadAt(make([]byte, 1), 0); return err }},
		{"Segment.Resize", func() error { return seg.Resize(8192) }},
		{"Queue.TrySend", func() error { return q.TrySend([]byte{1}) }},
		{"Queue.Release", func() error { return q.Release() }},
		{"Topic.TryPublish", func() error { return tp.TryPublish([]byte{1}) }},
		{"Semaphore.Post", func() error { return s.Post() }},
		{"Semaphore.Wait", func() error { return s.Wait(context.Background()) }},
		{"sem.Init", func() error { _, err := sem.Init(seg, 0, 1); return err }},
		{"sem.At", func() error { _, err := sem.At(seg, 0); return err }},
		{"lock.MutexAt", func() error { _, err := lock.MutexAt(seg, 0); return err }},
		{"lock.SeqlockAt", func() error { _, err := lock.SeqlockAt(seg, 0, 8); return err }},
		{"lock.ValueAt", func() error { _, err := lock.ValueAt[int64](seg, 0); return err }},
		{"lock.DoubleBufferAt", func() error { _, err := lock.DoubleBufferAt(seg, 0, 8); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			err := tt.call()
			var e *shm.Error
			if !errors.Is(err, shm.ErrClosed) || !errors.As(err, &e) {
				t.Errorf("got %v, want a *shm.Error matching shm.ErrClosed", err)
			}
		})
	}
}

// TestNilContext checks that every blocking call given a nil context fails
// at once with a *shm.Error matching shm.ErrInvalid, without a panic and
// whether or not it would have had to wait.
func TestNilContext(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	q, err := queue.Create(name+"-q", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.Unlink(name + "-q")
	defer q.Close()
	tp, err := topic.Create(name+"-t", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name + "-t")
	defer tp.Close()
	s, err := sem.Init(seg, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	mu, err := lock.MutexAt(seg, 64)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := lock.SeqlockAt(seg, 128, 8)
	if err != nil {
		t.Fatal(err)
	}
	v, err := lock.ValueAt[int64](seg, 256)
	if err != nil {
		t.Fatal(err)
	}
	db, err := lock.DoubleBufferAt(seg, 512, 8)
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	tests := []struct {
		op   string
		call func() error
	}{
		{"sem wait", func() error { return s.Wait(nilCtx) }},
		{"mutex lock", func() error { return mu.Lock(nilCtx) }},
		{"seqlock wait", func() error { _, err := sl.Wait(nilCtx, make([]byte, 8), 0); return err }},
		{"value wait", func() error { _, _, err := v.Wait(nilCtx, 0); return err }},
		{"double buffer wait", func() error { _, err := db.Wait(nilCtx, make([]byte, 8), 0); return err }},
		{"queue send", func() error { return q.Send(nilCtx, []byte{1}) }},
		{"queue send", func() error { return q.SendBatch(nilCtx, [][]byte{{1}}) }},
		{"queue send", func() error { _, err := q.Reserve(nilCtx, 1); return err }},
		{"queue receive", func() error { _, err := q.Receive(nilCtx, nil); return err }},
		{"queue receive", func() error { _, err := q.ReceiveBatch(nilCtx, make([][]byte, 1)); return err }},
		{"queue receive", func() error { _, err := q.Peek(nilCtx); return err }},
		{"topic publish", func() error { return tp.Publish(nilCtx, []byte{1}) }},
		{"topic publish", func() error { return tp.PublishBatch(nilCtx, [][]byte{{1}}) }},
		{"topic publish", func() error { _, err := tp.Reserve(nilCtx, 1); return err }},
		{"topic receive", func() error { _, err := tp.Receive(nilCtx, nil); return err }},
		{"topic receive", func() error { _, err := tp.ReceiveBatch(nilCtx, make([][]byte, 1)); return err }},
		{"topic receive", func() error { _, err := tp.Peek(nilCtx); return err }},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i, tt.op), func(t *testing.T) {
			err := tt.call()
			var e *shm.Error
			if !errors.Is(err, shm.ErrInvalid) || !errors.As(err, &e) || e.Op != tt.op {
				t.Errorf("got %v, want a *shm.Error with Op %q matching shm.ErrInvalid", err, tt.op)
			}
		})
	}
	// Nothing was taken: the semaphore's token is still there.
	if n, err := s.Value(); err != nil || n != 1 {
		t.Errorf("semaphore value after the nil-context Wait = %d, %v; want 1", n, err)
	}
}

// TestAttachOrInit checks the rule that decides between attach (XAt) and
// init (Init): every lock type is valid at all zero bytes, so attaching
// to a fresh segment works, writes nothing, and reads the zero state; a
// semaphore is not (zero bytes are glibc's process-private semaphore), so
// it has Init, and At refuses zero bytes.
func TestAttachOrInit(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	mu, err := lock.MutexAt(seg, 0)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := lock.SeqlockAt(seg, 64, 8)
	if err != nil {
		t.Fatal(err)
	}
	v, err := lock.ValueAt[int64](seg, 128)
	if err != nil {
		t.Fatal(err)
	}
	db, err := lock.DoubleBufferAt(seg, 256, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range seg.Bytes() {
		if c != 0 {
			t.Fatalf("attaching wrote byte %d (%#x) of the segment", i, c)
		}
	}
	if ok, err := mu.TryLock(); !ok || err != nil {
		t.Errorf("TryLock of zero bytes = %v, %v; want an unlocked mutex", ok, err)
	} else {
		mu.Unlock()
	}
	p := make([]byte, 8)
	if ver, err := sl.ReadVersion(p); err != nil || ver != 0 || string(p) != string(make([]byte, 8)) {
		t.Errorf("Seqlock of zero bytes reads %x version %d, %v; want zeros, version 0", p, ver, err)
	}
	if x, ver, err := v.LoadVersion(); err != nil || x != 0 || ver != 0 {
		t.Errorf("Value of zero bytes loads %d version %d, %v; want 0, version 0", x, ver, err)
	}
	if ver, err := db.Read(p); err != nil || ver != 0 || string(p) != string(make([]byte, 8)) {
		t.Errorf("DoubleBuffer of zero bytes reads %x version %d, %v; want zeros, version 0", p, ver, err)
	}

	if _, err := sem.At(seg, 1024); !errors.Is(err, sem.ErrNotShared) {
		t.Errorf("sem.At on zero bytes = %v, want sem.ErrNotShared", err)
	}
	if _, err := sem.Init(seg, 1024, 2); err != nil {
		t.Fatal(err)
	}
	s, err := sem.At(seg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Value(); n != 2 || err != nil {
		t.Errorf("sem.At after Init: value %d, %v; want 2", n, err)
	}
}

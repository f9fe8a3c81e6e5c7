//go:build linux

package lock_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"syscall"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/lock"
)

// A counter in a segment that several processes increment under a Mutex.
// The mutex takes the first lock.MutexSize bytes; the counter follows it.
func ExampleMutex() {
	name := fmt.Sprintf("lock-example-%d", os.Getpid())
	seg, _, err := shm.OpenOrCreate(name, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()

	mu, err := lock.MutexAt(seg, 0)
	if err != nil {
		log.Fatal(err)
	}
	counter := seg.Bytes()[lock.MutexSize:]

	err = mu.Lock(context.Background())
	if errors.Is(err, lock.ErrOwnerDead) {
		// We hold the mutex, but its last owner died mid-update: check and
		// repair what it protects, then say so.
		err = mu.MarkConsistent()
	}
	if err != nil {
		log.Fatal(err)
	}
	n := binary.NativeEndian.Uint64(counter) + 1
	binary.NativeEndian.PutUint64(counter, n)
	if err := mu.Unlock(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("counter:", n)
	// Output: counter: 1
}

// A mutex in a mapping made outside package shm: NewMutex needs the
// mapped file's descriptor, on which the owner's token is held, so that
// other processes, in any PID namespace, can tell whether the owner lives.
func ExampleNewMutex() {
	f, err := os.CreateTemp("/dev/shm", "lock-example-file-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		log.Fatal(err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		log.Fatal(err)
	}
	defer syscall.Munmap(b)

	if _, err := lock.NewMutex(b); errors.Is(err, shm.ErrInvalid) {
		fmt.Println("without File: refused")
	}
	mu, err := lock.NewMutex(b, lock.File(int(f.Fd())))
	if err != nil {
		log.Fatal(err)
	}
	if err := mu.Lock(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("locked")
	if err := mu.Unlock(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// without File: refused
	// locked
}

// A value that one process publishes and others read without ever blocking
// the writer.
func ExampleValue() {
	type position struct {
		X, Y float64
		Tick uint64
	}
	name := fmt.Sprintf("lock-example-value-%d", os.Getpid())
	seg, err := shm.Create(name, int64(lock.ValueSize[position]()))
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()

	pos, err := lock.ValueAt[position](seg, 0)
	if err != nil {
		log.Fatal(err)
	}
	pos.Store(position{X: 1.5, Y: -2, Tick: 42}) // the writer

	p, err := pos.Load() // any reader, in any process
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", p)
	// Output: {X:1.5 Y:-2 Tick:42}
}

// Types with pointers cannot live in shared memory: NewValue refuses them.
func ExampleNewValue_refused() {
	type message struct {
		ID   uint32
		Text string
	}
	b := make([]byte, 64)
	_, err := lock.NewValue[message](b)
	fmt.Println(errors.Is(err, shm.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// shm value open anonymous: invalid argument: lock_test.message.Text is a string, which is not fixed-size and pointer-free
}

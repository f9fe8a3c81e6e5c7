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
	"time"

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

// A mutex in a mapping made outside package shm: MutexIn needs the
// mapped file's descriptor, on which the owner's token is held, so that
// other processes, in any PID namespace, can tell whether the owner lives.
func ExampleMutexIn() {
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

	if _, err := lock.MutexIn(b); errors.Is(err, shm.ErrInvalid) {
		fmt.Println("without File: refused")
	}
	mu, err := lock.MutexIn(b, lock.File(int(f.Fd())))
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

// Types with pointers cannot live in shared memory: ValueIn refuses them.
func ExampleValueIn_refused() {
	type message struct {
		ID   uint32
		Text string
	}
	b := make([]byte, 64)
	_, err := lock.ValueIn[message](b)
	fmt.Println(errors.Is(err, shm.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// shm value open anonymous: invalid argument: lock_test.message.Text is a string, which is not fixed-size and pointer-free
}

// A reader that sleeps until the value changes, and learns when its writer
// is done: ErrWriterClosed after a Close, ErrWriterDead if the writer dies first.
func ExampleValue_Wait() {
	name := fmt.Sprintf("lock-example-wait-%d", os.Getpid())
	seg, err := shm.Create(name, int64(lock.ValueSize[uint64]()))
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()
	temp, err := lock.ValueAt[uint64](seg, 0)
	if err != nil {
		log.Fatal(err)
	}

	go func() { // the writer, usually another process
		for t := uint64(20); t <= 22; t++ {
			temp.Store(t)
			time.Sleep(time.Millisecond)
		}
		temp.Close()
	}()

	ctx := context.Background()
	var last uint64
	var seen lock.Version // 0: the value nobody stored yet
	for {
		t, v, err := temp.Wait(ctx, seen)
		if errors.Is(err, lock.ErrWriterClosed) {
			break
		}
		if err != nil { // lock.ErrWriterDead: the value is orphaned
			log.Fatal(err)
		}
		last, seen = t, v
	}
	state, _ := temp.Writer()
	fmt.Println("last:", last, "writer:", state)
	// Output: last: 22 writer: closed
}

// Image-sized frames: the writer renders each frame in place in the back
// slot and publishes it; readers copy the newest.
func ExampleDoubleBuffer() {
	const width, height = 640, 480
	name := fmt.Sprintf("lock-example-frames-%d", os.Getpid())
	seg, err := shm.Create(name, int64(lock.DoubleBufferSize(width*height)))
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()
	frames, err := lock.DoubleBufferAt(seg, 0, width*height)
	if err != nil {
		log.Fatal(err)
	}

	// The writer, usually another process: no staging buffer, no copy.
	for shade := range byte(3) {
		img, err := frames.Loan()
		if err != nil {
			log.Fatal(err)
		}
		for i := range img {
			img[i] = shade
		}
		if err := frames.Publish(); err != nil {
			log.Fatal(err)
		}
	}

	// A reader, in any process.
	img := make([]byte, width*height)
	if _, err := frames.Read(img); err != nil {
		log.Fatal(err)
	}
	fmt.Println("pixel:", img[12345])
	// Output: pixel: 2
}

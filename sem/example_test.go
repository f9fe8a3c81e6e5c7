//go:build linux

package sem_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/sem"
)

// A named semaphore, the same object as sem_open("/NAME", O_CREAT, 0600, 1)
// in C.
func ExampleOpenOrCreate() {
	name := fmt.Sprintf("example-open-%d", os.Getpid())
	s, _, err := sem.OpenOrCreate(name, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sem.Unlink(name)
	defer s.Close()

	// Take the token, and find none left.
	if err := s.Wait(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	ok, _ := s.TryWait()
	fmt.Println("second token:", ok)

	// Waiting with a time limit on an empty semaphore times out.
	err = s.WaitTimeout(10 * time.Millisecond)
	fmt.Println(err == nil, errors.Is(err, sem.ErrTimeout))

	s.Post()
	n, _ := s.Value()
	fmt.Println("value:", n)
	// Output:
	// second token: false
	// false true
	// value: 1
}

// An unnamed semaphore at an offset inside a segment, which a C process
// mapping the same segment can use with sem_post and sem_wait.
func ExampleInit() {
	name := fmt.Sprintf("example-init-%d", os.Getpid())
	seg, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	s, err := sem.Init(seg, 0, 0) // sem_init(p, 1, 0) on the first 32 bytes
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Post() // another goroutine, or another process attached with sem.At
	if err := s.Wait(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("woken")
	// Output: woken
}

func ExampleUnlink() {
	name := fmt.Sprintf("example-unlink-%d", os.Getpid())
	s, err := sem.Create(name, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Close()
	fmt.Println(sem.Unlink(name))
	_, err = sem.Open(name)
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// <nil>
	// true
}

//go:build linux

package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/shmkit/shm"
)

// exampleName gives each run of an example its own object name.
func exampleName(what string) string {
	return fmt.Sprintf("shm-example-%s-%d", what, os.Getpid())
}

func ExampleCreate() {
	name := exampleName("create")
	seg, err := shm.Create(name, 4096, shm.Mode(0o640))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	copy(seg.Bytes(), "hello") // the mapping itself, shared with every process that maps it

	// Create is exclusive.
	_, err = shm.Create(name, 4096)
	fmt.Println(errors.Is(err, fs.ErrExist))

	info, err := shm.Stat(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(seg.Size(), info.Size, info.Mode, info.Kind)
	// Output:
	// true
	// 4096 4096 -rw-r----- data
}

// Write a large block into a segment that another process reads, as a
// queue's Send writes a large message into its ring.
func ExampleCopy() {
	name := exampleName("copy")
	seg, err := shm.Create(name, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	block := bytes.Repeat([]byte("shm"), 20000)
	n := shm.Copy(seg.Bytes(), block)
	fmt.Println(n, bytes.Equal(seg.Bytes()[:n], block))
	// Output: 60000 true
}

// Open the object or create it, show what an earlier
// run left there, and store something new.
func ExampleOpenOrCreate() {
	name := exampleName("edit")
	defer shm.Unlink(name)

	for _, word := range []string{"first", "second"} {
		seg, created, err := shm.OpenOrCreate(name, 4096)
		if err != nil {
			fmt.Println(err)
			return
		}
		if !created {
			buf := make([]byte, 64)
			seg.ReadAt(buf, 0)
			before, _, _ := bytes.Cut(buf, []byte{0}) // stored NUL-terminated, like the C seed
			fmt.Printf("before: %s\n", before)
		}
		seg.WriteAt(append([]byte(word), 0), 0)
		fmt.Println("created:", created, "stored:", word)
		seg.Close()
	}
	// Output:
	// created: true stored: first
	// before: first
	// created: false stored: second
}

func ExampleOpen() {
	name := exampleName("open")
	w, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer w.Close()
	w.WriteAt([]byte("ready"), 0)

	// Another process (here the same one) opens it read-only.
	r, err := shm.Open("/"+name, shm.ReadOnly())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	fmt.Println(string(r.Bytes()[:5]))

	_, err = r.WriteAt([]byte("x"), 0)
	fmt.Println(errors.Is(err, shm.ErrReadOnly), errors.Is(err, fs.ErrPermission))

	_, err = shm.Open(exampleName("missing"))
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// ready
	// true true
	// true
}

func ExampleSegment_ReadAt() {
	name := exampleName("readat")
	seg, err := shm.Create(name, 100)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	seg.WriteAt([]byte("tail"), 96)
	buf := make([]byte, 8)
	n, err := seg.ReadAt(buf, 96) // io.ReaderAt: a short read at the end is io.EOF
	fmt.Println(n, err, string(buf[:n]))

	// A write that does not fit is refused whole.
	_, err = seg.WriteAt([]byte("too long"), 96)
	fmt.Println(err != nil, errors.Is(err, shm.ErrInvalid))
	// Output:
	// 4 EOF tail
	// true true
}

func ExampleSegment_Resize() {
	name := exampleName("resize")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	seg.WriteAt([]byte("kept"), 0)
	if err := seg.Resize(3 * 4096); err != nil { // Bytes() slices taken before are invalid now
		fmt.Println(err)
		return
	}
	fmt.Println(seg.Size(), string(seg.Bytes()[:4]))
	// Output:
	// 12288 kept
}

func ExampleSegment_Close() {
	name := exampleName("close")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)

	fmt.Println(seg.Close(), seg.Close()) // Close is idempotent
	_, err = seg.ReadAt(make([]byte, 1), 0)
	fmt.Println(errors.Is(err, shm.ErrClosed))
	// Output:
	// <nil> <nil>
	// true
}

func ExampleCleanName() {
	for _, name := range []string{"/jobs", "jobs", "//jobs", "a/b", ".."} {
		clean, err := shm.CleanName(name)
		fmt.Printf("%q %q %v\n", clean, name, err)
	}
	// Output:
	// "jobs" "/jobs" <nil>
	// "jobs" "jobs" <nil>
	// "jobs" "//jobs" <nil>
	// "" "a/b" invalid name: contains '/' after the leading slashes
	// "" ".." invalid name: ".." names a directory, not an object
}

func ExampleError() {
	_, err := shm.Open("/" + exampleName("nothing-here"))
	var e *shm.Error
	if errors.As(err, &e) {
		fmt.Println(e.Op, errors.Is(err, fs.ErrNotExist))
	}
	// Output:
	// open true
}

func ExampleList() {
	dir, err := os.MkdirTemp("", "shm-example-list")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	for _, name := range []string{"queue", "sem.ready"} {
		seg, err := shm.Create(name, 32, shm.Dir(dir))
		if err != nil {
			fmt.Println(err)
			return
		}
		seg.Close()
	}
	infos, err := shm.List(shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, info := range infos {
		fmt.Println(info)
	}
	// Output:
	// queue 32 -rw------- data
	// sem.ready 32 -rw------- semaphore
}

// ExampleQuoteName prints names from the shared-memory directory safely:
// plain names as they are, others quoted as a shell would read them back.
func ExampleQuoteName() {
	for _, name := range []string{"jobs", "my jobs", "\x1b]0;PWNED\a", "caf\xe9"} {
		fmt.Println(shm.QuoteName(name))
	}
	// Output:
	// jobs
	// 'my jobs'
	// $'\e]0;PWNED\a'
	// $'caf\xe9'
}

// ExampleSegment_NewWriter copies a stream into a segment and back out
// through the descriptor, in bounded memory: the writer reserves its bytes
// first (ErrNoSpace, with nothing written, when the file system is full),
// and the reader reads holes as zeros without allocating them.
func ExampleSegment_NewWriter() {
	name := exampleName("newwriter")
	seg, err := shm.Create(name, 64)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	input := strings.NewReader("streamed in")
	w, err := seg.NewWriter(8, input.Size())
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := io.Copy(w, input); err != nil {
		fmt.Println(err)
		return
	}
	out, err := io.ReadAll(seg.NewReader(8, 11))
	fmt.Printf("%q %v\n", out, err)
	// Output:
	// "streamed in" <nil>
}

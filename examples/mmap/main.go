// Command mmap is a classic shm_open/mmap C exercise ("IPC practice 04 –
// Shared Memory") written in Go with package shm. It behaves
// the same, message for message and exit status for exit status, so the two
// can take turns on the same object:
//
//	mmap       open /comento_mem, or create it with 4096 bytes; print what an
//	           earlier run stored ("before: ..."), then store one word read
//	           from stdin (like scanf("%4095s"))
//	mmap -d    remove /comento_mem
//	mmap -l    list /dev/shm, one name per line, sorted (what /bin/ls prints;
//	           on a terminal each name is quoted as ls quotes it there)
//
// Exit status: 0 done, 1 shm_open failed, 2 creating or sizing the object
// failed, 3 mapping failed, 4 usage, 5 listing failed. The messages, the
// spelling "memeory" included, are the C program's.
//
// The environment variable SHM_MMAP_NAME names another object than
// /comento_mem, so tests and experiments leave a real /comento_mem alone.
//
// Where Go differs, it is where the C program would crash or lie: an
// existing object smaller than 4096 bytes is a mapping failure (exit 3)
// instead of a SIGBUS on first touch; a word is stored with WriteAt, so an
// object truncated by another process meanwhile is an error (exit 3) rather
// than a crash; and "-l" always prints its header line, which the C program
// loses when its output is a pipe (execve drops stdio's unflushed buffer).
// When /dev/shm cannot be read, the C program prints ls's complaint and
// exits 2; this one prints "Failed to run ls command" and exits 5.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/shmkit/shm"
)

const (
	defaultName = "/comento_mem" // SHM_NAME in the C program
	size        = 4096           // SHM_SIZE
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := os.Getenv("SHM_MMAP_NAME")
	if name == "" {
		name = defaultName
	}
	switch {
	case len(argv) == 2 && argv[1] == "-d":
		fmt.Fprint(stdout, "Delete the shared memory\n")
		shm.Unlink(name) // like shm_unlink in the C program, its result is not looked at
		return 0
	case len(argv) == 2 && argv[1] == "-l":
		fmt.Fprint(stdout, "List the shared memory:\n")
		if err := list(stdout, shm.DefaultDir); err != nil {
			fmt.Fprint(stderr, "Failed to run ls command")
			return 5
		}
		return 0
	case len(argv) != 1:
		fmt.Fprintf(stderr, "Usage : %s <-d> <-l>\n", argv[0])
		return 4
	}

	created := false
	seg, err := shm.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprint(stderr, "Failed to shm_open\n")
			return 1
		}
		fmt.Fprint(stdout, "Create new shared memory\n")
		fmt.Fprint(stdout, "Set the size of shared memory\n")
		seg, err = shm.Create(name, size)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it since our Open; the C program's
			// shm_open(O_CREAT) without O_EXCL would open that one.
			seg, err = shm.Open(name)
		}
		if err != nil {
			fmt.Fprint(stderr, "Failed to ftruncate\n\n")
			return 2
		}
		created = true
	}
	defer seg.Close()

	fmt.Fprint(stdout, "Mapping the shared memeory\n")
	if seg.Size() < size {
		fmt.Fprint(stderr, "Failed to mmap\n")
		return 3
	}
	if !created {
		// printf("before: %.4095s\n", ptr): up to the first NUL, at most 4095 bytes.
		before := make([]byte, size-1)
		if _, err := seg.ReadAt(before, 0); err != nil {
			fmt.Fprint(stderr, "Failed to mmap\n")
			return 3
		}
		if i := bytes.IndexByte(before, 0); i >= 0 {
			before = before[:i]
		}
		fmt.Fprintf(stdout, "before: %s\n", before)
	}
	// scanf("%4095s", ptr): one word of at most 4095 bytes, NUL-terminated;
	// nothing at all when stdin holds no word.
	if word := scanWord(bufio.NewReader(stdin), size-1); word != nil {
		if _, err := seg.WriteAt(append(word, 0), 0); err != nil {
			fmt.Fprint(stderr, "Failed to mmap\n")
			return 3
		}
	}
	return 0
}

// scanWord reads like scanf("%Ns") with N = limit: it skips white space,
// then takes bytes up to the next white space, the end of input, or limit
// bytes, whichever comes first. It returns nil when there is no word.
func scanWord(r io.ByteReader, limit int) []byte {
	var word []byte
	for len(word) < limit {
		c, err := r.ReadByte()
		if err != nil {
			break
		}
		if strings.IndexByte(" \t\n\v\f\r", c) >= 0 {
			if word != nil {
				break
			}
			continue
		}
		word = append(word, c)
	}
	return word
}

// list prints the names in dir as "/bin/ls dir" does in the C locale: one a
// line, sorted byte by byte, without the ones that start with a dot. Anyone
// can create files there, so on a terminal, as ls does, each name is quoted
// (shm.QuoteName): an escape sequence in a name cannot act on the terminal.
// Into a pipe the names go as they are, as ls's do, so that the output is
// the C program's byte for byte.
func list(w io.Writer, dir string) error {
	quote := func(name string) string { return name }
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			quote = shm.QuoteName // a terminal (or /dev/null)
		}
	}
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			fmt.Fprintln(bw, quote(e.Name()))
		}
	}
	return bw.Flush()
}

//go:build linux

package interop

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// TestKilledReaderLosesNothing: shmq-recv and python3 -m shmkit queue recv,
// SIGKILLed while they print a stream into a pipe, leave every message they
// did not write out in the queue: what they wrote and what the next reader
// prints hold every line, in order, none missing (the last few may be
// printed twice).
func TestKilledReaderLosesNothing(t *testing.T) {
	shmtest.SkipShort(t)
	shmBin, _, recvBin := cliTools(t)
	readers := map[string]func(name, dir string) *exec.Cmd{
		"shmq-recv": func(name, dir string) *exec.Cmd { return exec.Command(recvBin, name, "--follow") },
		"python":    func(name, dir string) *exec.Cmd { return python(t, "-m", "shmkit", "queue", "recv", name, "--follow") },
	}
	for who, reader := range readers {
		t.Run(who, func(t *testing.T) {
			if who == "python" {
				shmtest.Need(t, "python3")
			}
			name := shmtest.Name(t, "")
			const n = 200000
			// This process produces, through a small ring that makes the
			// consumer publish its progress often; a Send that finds the
			// killed reader dead waits for the next one.
			q, err := queue.Create(name, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			sent := make(chan error, 1)
			go func() {
				defer q.Close()
				for i := 1; i <= n; i++ {
					msg := []byte(strconv.Itoa(i))
					for {
						err := q.Send(t.Context(), msg)
						if errors.Is(err, queue.ErrPeerDead) {
							time.Sleep(10 * time.Millisecond)
							continue
						}
						if err != nil {
							sent <- err
							return
						}
						break
					}
				}
				sent <- nil
			}()

			// The reader writes into a pipe nobody reads yet: it fills, and
			// the reader blocks in a write with more lines in its buffers,
			// where the kill finds it.
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			r := reader(name, "")
			r.Stdout = pw
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			time.Sleep(500 * time.Millisecond)
			r.Process.Signal(syscall.SIGKILL)
			r.Wait()
			got, err := io.ReadAll(pr)
			if err != nil {
				t.Fatal(err)
			}
			rest, err := exec.Command(shmBin, "queue", "recv", name, "--follow").Output()
			if err != nil {
				t.Fatalf("second reader: %v", err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
			// The killed reader's file ends at a whole line, or in the
			// middle of one that the next reader prints again.
			text := string(got)
			if i := strings.LastIndexByte(text, '\n'); i >= 0 {
				text = text[:i+1]
			} else {
				text = ""
			}
			want := 1
			for _, part := range []string{text, string(rest)} {
				for _, l := range strings.Fields(part) {
					v, err := strconv.Atoi(l)
					if err != nil {
						t.Fatalf("line %q", l)
					}
					if v > want {
						t.Fatalf("lines %d to %d are missing (the killed reader wrote %d bytes)", want, v-1, len(got))
					}
					if v == want {
						want++
					}
				}
			}
			if want != n+1 {
				t.Fatalf("got lines up to %d of %d", want-1, n)
			}
		})
	}
}

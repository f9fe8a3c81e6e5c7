//go:build linux

package sem

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// childParams names the arguments of each child role, in the order child
// takes them.
var childParams = map[string][]string{
	"hammer":   {"sem", "shm", "n"},
	"pingpong": {"ping", "pong", "n"},
	"pipe":     nil,
	"wait":     {"sem"},
}

func init() {
	for role := range childParams {
		shmtest.Role(role, func(a shmtest.Args) int { return shmtest.ExitStatus(runChild(role, a)) })
	}
}

// runChild plays a role in a re-executed test binary.
func runChild(role string, a shmtest.Args) error {
	switch role {
	case "hammer":
		// N times: wait SEM, ++counter at offset 0 of SHM, post SEM.
		n := a.Int("n")
		s, err := Open(a["sem"])
		if err != nil {
			return err
		}
		seg, err := shm.Open(a["shm"])
		if err != nil {
			return err
		}
		b := seg.Bytes()
		for range n {
			if err := s.Wait(context.Background()); err != nil {
				return err
			}
			// A plain, non-atomic increment: only the semaphore keeps it exact.
			binary.NativeEndian.PutUint64(b, binary.NativeEndian.Uint64(b)+1)
			if err := s.Post(); err != nil {
				return err
			}
		}
		return nil
	case "pingpong":
		// N times: wait PING, post PONG.
		n := a.Int("n")
		ping, err := Open(a["ping"])
		if err != nil {
			return err
		}
		pong, err := Open(a["pong"])
		if err != nil {
			return err
		}
		for range n {
			if err := ping.WaitTimeout(10 * time.Second); err != nil {
				return err
			}
			if err := pong.Post(); err != nil {
				return err
			}
		}
		return nil
	case "wait":
		// Wait on SEM once, without limit.
		s, err := Open(a["sem"])
		if err != nil {
			return err
		}
		return s.Wait(context.Background())
	case "pipe":
		// Echo every byte from stdin to stdout until EOF.
		r, w := bufio.NewReader(os.Stdin), os.Stdout
		var buf [1]byte
		for {
			c, err := r.ReadByte()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			buf[0] = c
			if _, err := w.Write(buf[:]); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

//go:build linux

package sem

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/shmkit/shm"
)

// childArgs returns how many arguments a child role takes (the last ones
// on its command line).
func childArgs(role string) int {
	switch role {
	case "hammer":
		return 3 // SEM SHM N
	case "pingpong":
		return 3 // PING PONG N
	case "pipe":
		return 0
	case "wait":
		return 1 // SEM
	}
	return 0
}

// runChild plays a role in a re-executed test binary.
func runChild(role string, args []string) error {
	switch role {
	case "hammer":
		// N times: wait SEM, ++counter at offset 0 of SHM, post SEM.
		n, _ := strconv.Atoi(args[2])
		s, err := Open(args[0])
		if err != nil {
			return err
		}
		seg, err := shm.Open(args[1])
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
		n, _ := strconv.Atoi(args[2])
		ping, err := Open(args[0])
		if err != nil {
			return err
		}
		pong, err := Open(args[1])
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
		s, err := Open(args[0])
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

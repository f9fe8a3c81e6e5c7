package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Self returns the calling process's identity.
func Self() (Identity, error) { return Of(os.Getpid()) }

// Of returns the identity of the running process pid.
func Of(pid int) (Identity, error) {
	st, err := readStat(pid)
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: int32(pid), Start: st.start}, nil
}

// Alive reports whether the process id names still runs. A process that has
// exited but was not yet reaped by its parent (a zombie) is not alive, and
// neither is another process that got the same pid later. When it cannot
// tell, it says alive: the safe answer for a lock. That covers a /proc it
// may not read, and a /proc that hides other users' processes (hidepid):
// when /proc/PID is absent, kill(pid, 0) decides whether the pid exists.
func Alive(id Identity) bool { return AliveMasked(id, 64) }

// AliveMasked is Alive for callers that store only the low bits of the
// start time (a lock word that packs pid and start time into 64 bits): it
// compares start times modulo 2^bits. bits is 1 to 64.
func AliveMasked(id Identity, bits uint) bool {
	if id.PID <= 0 {
		return false
	}
	mask := ^uint64(0)
	if bits < 64 {
		mask = 1<<bits - 1
	}
	st, err := readStat(int(id.PID))
	if errors.Is(err, os.ErrNotExist) {
		// No /proc entry: gone, or hidden from us. ESRCH is the only answer
		// that proves the pid names no process.
		return unix.Kill(int(id.PID), 0) != unix.ESRCH
	}
	if errors.Is(err, errMalformed) {
		return false
	}
	if err != nil {
		return true
	}
	return st.start&mask == id.Start&mask && st.state != 'Z' && st.state != 'X' && st.state != 'x'
}

type stat struct {
	state byte
	start uint64
}

var errMalformed = errors.New("proc: malformed /proc/PID/stat")

// readStat parses /proc/PID/stat. The command name in field 2 may itself hold
// spaces and parentheses, so fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	return parseStat(b)
}

// parseStat parses the contents of a /proc/PID/stat file.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errMalformed
	}
	// After ") " come field 3 (state), 4, 5, ...; start time is field 22.
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return stat{}, errMalformed
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return stat{}, errMalformed
	}
	return stat{state: f[0][0], start: start}, nil
}

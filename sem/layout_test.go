//go:build linux

package sem

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// state decodes the words of a semaphore with this package's constants.
type state struct {
	value, nwaiters, private uint32
}

func decode(b []byte) state {
	d := binary.NativeEndian.Uint64(b[offData:])
	return state{
		value:    uint32(d),
		nwaiters: uint32(d >> nwaitersShift),
		private:  binary.NativeEndian.Uint32(b[offPrivate:]),
	}
}

// TestLayoutMatchesGlibc checks the layout constants against a C program
// that prints sizeof(sem_t) and the bytes of glibc semaphores in known
// states, including one with a thread asleep in sem_wait.
func TestLayoutMatchesGlibc(t *testing.T) {
	out := run(t, "layout")
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		got[k] = v
	}
	if got["sizeof"] != strconv.Itoa(Size) || got["alignof"] != strconv.Itoa(Align) {
		t.Fatalf("glibc sem_t: sizeof %s alignof %s; package constants Size %d Align %d", got["sizeof"], got["alignof"], Size, Align)
	}
	for _, tc := range []struct {
		name string
		want state
	}{
		{"shared5", state{value: 5, private: privateShared}},   // sem_init(s, 1, 5)
		{"private7", state{value: 7, private: privatePrivate}}, // sem_init(s, 0, 7)
		{"posted6", state{value: 6, private: privateShared}},   // ... then sem_post
		{"waiting", state{value: 0, nwaiters: 1, private: privateShared}},
		{"woken", state{value: 0, nwaiters: 0, private: privateShared}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(got[tc.name])
			if err != nil || len(b) != Size {
				t.Fatalf("peer printed %q for %s: %v", got[tc.name], tc.name, err)
			}
			if s := decode(b); s != tc.want {
				t.Errorf("glibc bytes %x decode as %+v, want %+v", b, s, tc.want)
			}
		})
	}
}

// TestNamedFileMatchesGlibc compares the file sem_open creates with the one
// Open creates: same size, same 32 bytes, same mode.
func TestNamedFileMatchesGlibc(t *testing.T) {
	cName, goName := shmtest.Name(t, ""), shmtest.Name(t, "")
	run(t, "create", "/"+cName, "3")
	s, err := Create(goName, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cBytes, err := os.ReadFile(filepath.Join(shm.DefaultDir, "sem."+cName))
	if err != nil {
		t.Fatal(err)
	}
	goBytes, err := os.ReadFile(filepath.Join(shm.DefaultDir, "sem."+goName))
	if err != nil {
		t.Fatal(err)
	}
	if len(cBytes) != Size || !bytes.Equal(cBytes, goBytes) {
		t.Errorf("sem_open wrote %x, Open wrote %x", cBytes, goBytes)
	}
	ci, _ := shm.Stat("sem." + cName)
	gi, _ := shm.Stat("sem." + goName)
	if ci.Mode != gi.Mode || ci.Size != gi.Size {
		t.Errorf("sem_open's file: %v %d bytes; Open's: %v %d bytes", ci.Mode, ci.Size, gi.Mode, gi.Size)
	}
}

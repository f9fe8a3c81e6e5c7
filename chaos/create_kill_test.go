//go:build linux

package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/sem"
)

func init() {
	shmtest.Role("creator", creator)
}

// The sizes the creator makes objects with.
const (
	creatorSegment = 8 << 20
	creatorQueue   = 1 << 20
)

// creator creates, closes and removes objects of kind a["kind"] (segment,
// sem or queue) named obj-0, obj-1, ... in a["dir"], without end, until it
// is killed.
func creator(a shmtest.Args) int {
	dir := a["dir"]
	say("ready")
	for i := 0; ; i++ {
		name := fmt.Sprintf("obj-%d", i)
		var err error
		switch a["kind"] {
		case "segment":
			var s *shm.Segment
			if s, err = shm.Create(name, creatorSegment, shm.Dir(dir)); err == nil {
				s.Close()
				err = shm.Unlink(name, shm.Dir(dir))
			}
		case "sem":
			var s *sem.Semaphore
			if s, err = sem.Create(name, 0, sem.Dir(dir)); err == nil {
				s.Close()
				err = sem.Unlink(name, sem.Dir(dir))
			}
		case "queue":
			var q *queue.Queue
			if q, err = queue.Create(name, creatorQueue, queue.Dir(dir)); err == nil {
				q.Close()
				err = queue.Unlink(name, queue.Dir(dir))
			}
		}
		if err != nil {
			say("%s %s: %v", a["kind"], name, err)
			return shmtest.ExitFail
		}
	}
}

// TestCreateKilled: a process that creates segments, named semaphores and
// queues is SIGKILLed at random points, over and over. Whatever it leaves
// under a name must be complete (a segment of its full size, a semaphore
// that opens with value 0, a queue that opens), there must be no other file
// (no temporary file), and once the complete ones are removed the file
// system must have all its space back (a nameless object being made dies
// with its process).
func TestCreateKilled(t *testing.T) {
	dir := shmtest.Tmpfs(t, "64m")
	n := trials(20, 150)
	r := newRand(t)
	free0 := shmtest.FreeBytes(t, dir)
	type tally struct{ trials, complete, strays int }
	per := map[string]*tally{}
	kinds := []string{"segment", "sem", "queue"}
	var strays []string
	for trial := range n * len(kinds) {
		kind := kinds[trial%len(kinds)]
		tl := per[kind]
		if tl == nil {
			tl = &tally{}
			per[kind] = tl
		}
		p := shmtest.Spawn(t, "creator", shmtest.Args{"dir": dir, "kind": kind})
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("creator not ready: %s", p.Output())
		}
		time.Sleep(time.Duration(1+r.IntN(20)) * time.Millisecond)
		p.KillWait()
		if p.ExitCode(0) != -1 {
			t.Fatalf("%s creator exited by itself: %s", kind, p.Output())
		}
		tl.trials++
		for _, e := range entries(t, dir) {
			path := filepath.Join(dir, e)
			var err error
			switch {
			case kind == "segment" && strings.HasPrefix(e, "obj-"):
				var info shm.Info
				if info, err = shm.Stat(e, shm.Dir(dir)); err == nil && info.Size != creatorSegment {
					err = fmt.Errorf("size %d, want %d", info.Size, creatorSegment)
				}
			case kind == "sem" && strings.HasPrefix(e, "sem.obj-"):
				var s *sem.Semaphore
				if s, err = sem.Open(strings.TrimPrefix(e, "sem."), sem.Dir(dir)); err == nil {
					var v int
					if v, err = s.Value(); err == nil && v != 0 {
						err = fmt.Errorf("value %d, want 0", v)
					}
					s.Close()
				}
			case kind == "queue" && strings.HasPrefix(e, "obj-"):
				var q *queue.Queue
				if q, err = queue.Open(e, queue.Dir(dir)); err == nil {
					q.Close()
				}
			default:
				tl.strays++
				strays = append(strays, kind+": "+e)
				os.Remove(path)
				continue
			}
			if err != nil {
				t.Errorf("%s trial %d: %s left incomplete: %v", kind, trial, e, err)
			}
			tl.complete++
			os.Remove(path)
		}
		if free := shmtest.FreeBytes(t, dir); free != free0 {
			t.Errorf("%s trial %d: %d bytes free after removing everything, %d before", kind, trial, free, free0)
		}
	}
	for _, k := range kinds {
		tl := per[k]
		t.Logf("%-7s creator kills=%d, complete objects left under their name=%d, stray files=%d", k, tl.trials, tl.complete, tl.strays)
	}
	if len(strays) > 0 {
		t.Errorf("a killed creator left files that are not objects (%d): %v", len(strays), strays[:min(len(strays), 5)])
	}
	t.Logf("SUMMARY create killed: %d kills of a process creating segments, semaphores and queues on a 64 MiB tmpfs; incomplete objects=0; stray files=%d; space fully recovered after each", n*len(kinds), len(strays))
}

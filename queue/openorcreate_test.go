//go:build linux

package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// openOrCreateChild is the open-or-create role of proc_test.go.
func openOrCreateChild(a shmtest.Args) error {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	q, created, err := OpenOrCreate(a["name"], 4096, MultiProducer())
	if err != nil {
		return err
	}
	defer q.Detach()
	verb := "opened"
	if created {
		verb = "created"
	}
	fmt.Println(verb, q.ID())
	return q.Send(context.Background(), []byte(verb))
}

// TestOpenOrCreateRace: processes released at once on a name that does
// not exist all end with one queue: exactly one says it created it, every
// one has the same queue (the same ID), and the queue holds one message
// from each.
func TestOpenOrCreateRace(t *testing.T) {
	const rounds, procs = 5, 6
	for r := range rounds {
		name := shmtest.Name(t, fmt.Sprint(r))
		var cs []*childProc
		for i := range procs {
			c := spawn(t, "open-or-create", name, i, 0)
			c.ready(t)
			cs = append(cs, c)
		}
		for _, c := range cs {
			fmt.Fprintln(c.Stdin)
		}
		var mu sync.Mutex
		created := 0
		ids := map[string]bool{}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				line, ok := c.Next(childTimeout)
				verb, id, _ := strings.Cut(line, " ")
				mu.Lock()
				defer mu.Unlock()
				if !ok || (verb != "created" && verb != "opened") {
					t.Errorf("round %d: child said %q, %v; output:\n%s", r, line, ok, c.Output())
					return
				}
				if verb == "created" {
					created++
				}
				ids[id] = true
			})
		}
		wg.Wait()
		for _, c := range cs {
			if err := c.wait(); err != nil {
				t.Fatalf("round %d: child: %v", r, err)
			}
		}
		if created != 1 || len(ids) != 1 {
			t.Fatalf("round %d: %d creators, %d distinct queues; want 1 and 1", r, created, len(ids))
		}
		q, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if !ids[q.ID().String()] {
			t.Fatalf("round %d: the queue under the name is not the one the children share", r)
		}
		got := 0
		for {
			m, err := q.TryReceive(nil)
			if err != nil {
				break
			}
			if s := string(m); s != "created" && s != "opened" {
				t.Fatalf("round %d: message %q", r, m)
			}
			got++
		}
		q.Close()
		if got != procs {
			t.Fatalf("round %d: %d messages, want %d", r, got, procs)
		}
		if err := Unlink(name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenOrCreateExisting: the queue that exists wins when it is the one
// asked for, and is refused, naming the field, when it is not.
func TestOpenOrCreateExisting(t *testing.T) {
	name := shmtest.Name(t, "")
	q, created, err := OpenOrCreate(name, 8192, MaxMessage(100))
	if err != nil || !created {
		t.Fatalf("first OpenOrCreate = %v, %v; want created", created, err)
	}
	defer Unlink(name)
	defer q.Close()
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []Option
		want     string // "" for success
	}{
		{"same", 8192, []Option{MaxMessage(100)}, ""},
		{"any max message", 8192, nil, ""},
		{"capacity", 4096, nil, "it has capacity 8192, not 4096"},
		{"producers", 8192, []Option{MultiProducer()}, "it is single-producer, not multi-producer"},
		{"max message", 8192, []Option{MaxMessage(64)}, "it has max message 100, not 64"},
		{"invalid capacity", 1000, nil, "not 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, created, err := OpenOrCreate(name, tc.capacity, tc.opts...)
			if tc.want == "" {
				if err != nil || created || o.ID() != q.ID() {
					t.Fatalf("OpenOrCreate = %v, %v; want the existing queue", created, err)
				}
				o.Close()
				return
			}
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) || o != nil || created {
				t.Fatalf("OpenOrCreate = %v, %v, %v; want ErrMismatch saying %q", o, created, err, tc.want)
			}
		})
	}

	plain := shmtest.Name(t, "plain")
	seg, err := shm.Create(plain, 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unlink(plain)
	defer seg.Close()
	if _, _, err := OpenOrCreate(plain, 4096); !errors.Is(err, ErrNotQueue) {
		t.Fatalf("OpenOrCreate on a plain segment = %v, want ErrNotQueue", err)
	}
	if _, _, err := OpenOrCreate(shmtest.Name(t, "bad"), 1000); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("OpenOrCreate with capacity 1000 = %v, want shm.ErrInvalid", err)
	}
}

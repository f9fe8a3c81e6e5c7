//go:build linux

package inspect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/sem"
	"github.com/shmkit/shm/topic"
)

// The tests re-execute this binary as their peers, in a role of runRole
// (see shmtest.Role) on the object named by the argument "name". A child
// prints "ready" once it holds its role, then waits for its standard input
// to close (or to be killed).
func init() {
	for _, role := range []string{"consumer", "producer", "publisher", "subscriber", "map"} {
		shmtest.Role(role, func(a shmtest.Args) int { return runRole(role, a["name"]) })
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

func runRole(role, name string) int {
	switch role {
	case "consumer":
		q, err := queue.Open(name)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if _, err := q.TryReceive(nil); err != nil && !errors.Is(err, queue.ErrEmpty) {
			fmt.Println(err)
			return 1
		}
	case "producer":
		q, err := queue.Open(name)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if err := q.Send(context.Background(), []byte("undelivered")); err != nil {
			fmt.Println(err)
			return 1
		}
	case "publisher":
		t, err := topic.Open(name)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if err := t.Publish(context.Background(), []byte("unread")); err != nil {
			fmt.Println(err)
			return 1
		}
	case "subscriber":
		t, err := topic.Open(name)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if err := t.Subscribe(); err != nil {
			fmt.Println(err)
			return 1
		}
	case "map":
		seg, err := shm.Open(name)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer seg.Close()
	default:
		fmt.Printf("unknown role %q\n", role)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// peer starts a child in role on name and returns it once it is ready; it
// is killed when the test ends.
func peer(t *testing.T, role, name string) *shmtest.Child {
	t.Helper()
	c := shmtest.Spawn(t, role, shmtest.Args{"name": name})
	if line, ok := c.Next(time.Minute); line != "ready" {
		t.Fatalf("%s child: %q, %v; output:\n%s", role, line, ok, c.Output())
	}
	return c
}

func stat(t *testing.T, name string, opts *inspect.Options) inspect.Object {
	t.Helper()
	o, err := inspect.Stat(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// outcomeOf returns the outcome for name.
func outcomeOf(t *testing.T, outs []inspect.Outcome, name string) inspect.Outcome {
	t.Helper()
	for _, o := range outs {
		if o.Object.Name == name {
			return o
		}
	}
	t.Fatalf("no outcome for %s among %v", name, outs)
	return inspect.Outcome{}
}

// The tests run in a PID namespace of their own (see
// shmtest.OwnPIDNamespace), where every process can be inspected.

// TestStaleQueueAfterKill: a queue whose consumer and producer were killed
// is stale; Clean keeps it while it holds an undelivered message, and
// removes it with Discard. A dry run removes nothing.
func TestStaleQueueAfterKill(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if o := stat(t, name, nil); o.State != inspect.Idle || o.Kind != inspect.KindQueue {
		t.Errorf("new queue nobody has open: %s %s (%s); want an idle queue", o.Kind, o.State, o.Reason)
	}
	consumer := peer(t, "consumer", name)
	producer := peer(t, "producer", name)
	if o := stat(t, name, nil); o.State != inspect.InUse || len(o.Attached) != 2 {
		t.Errorf("queue with a live consumer and producer: %s (%s), attached %v; want in-use by 2", o.State, o.Reason, o.Attached)
	}
	consumer.KillWait()
	producer.KillWait()
	o := stat(t, name, nil)
	if o.State != inspect.Stale || o.Undelivered() != 1 {
		t.Fatalf("after SIGKILL of both: %s (%s), %d undelivered; want stale with 1", o.State, o.Reason, o.Undelivered())
	}

	opts := &inspect.CleanOptions{Options: inspect.Options{Prefix: name}}
	outs, err := inspect.Clean(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Kept || !strings.Contains(got.Reason, "undelivered") {
		t.Errorf("dry run: %v; want kept for its undelivered message", got)
	}
	opts.Discard = true
	outs, _ = inspect.Clean(context.Background(), opts)
	if got := outcomeOf(t, outs, name); got.Action != inspect.WouldRemove {
		t.Errorf("dry run with Discard: %v; want would remove", got)
	}
	if _, err := shm.Stat(name); err != nil {
		t.Fatalf("a dry run removed the queue: %v", err)
	}
	opts.Force = true
	outs, err = inspect.Clean(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Removed {
		t.Errorf("Force: %v; want removed", got)
	}
	if _, err := shm.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Clean: Stat = %v; want the queue gone", err)
	}
}

// TestStaleTopicAfterKill: a topic is in use while a recorded publisher
// or subscriber lives, Clean keeps it (with Discard and Idle too) while a
// live subscriber has a message to read, and it is stale once every
// recorded participant was killed: with no live subscriber it holds
// nothing undelivered, and Clean removes it without Discard.
func TestStaleTopicAfterKill(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	name := shmtest.Name(t, "")
	tp, err := topic.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	if o := stat(t, name, nil); o.State != inspect.Idle || o.Kind != inspect.KindTopic || o.Topic == nil {
		t.Errorf("new topic nobody has open: %s %s (%s); want an idle topic", o.Kind, o.State, o.Reason)
	}
	subscriber := peer(t, "subscriber", name)
	publisher := peer(t, "publisher", name)
	o := stat(t, name, nil)
	if o.State != inspect.InUse || len(o.Attached) != 2 || o.Undelivered() != 1 {
		t.Errorf("topic with a live publisher and subscriber: %s (%s), attached %v, %d undelivered; want in-use by 2 with 1", o.State, o.Reason, o.Attached, o.Undelivered())
	}
	publisher.KillWait()
	// The records alone tell: classified without a scan of /proc (as for
	// a subscriber in another PID namespace), the topic is in use.
	info, err := shm.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("subscriber pid %d lives", subscriber.Pid())
	if o := inspect.Classify(shm.DefaultDir, info, inspect.NoScan()); o.State != inspect.InUse || !strings.HasPrefix(o.Reason, want) {
		t.Errorf("live subscriber, no scan: %s (%s); want in use: %s", o.State, o.Reason, want)
	}
	outs, err := inspect.Clean(context.Background(), &inspect.CleanOptions{
		Options: inspect.Options{Prefix: name}, Force: true, Discard: true, Idle: true, HasOlderThan: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Kept || got.Object.State != inspect.InUse || got.Object.Undelivered() != 1 {
		t.Errorf("publisher killed, subscriber alive with a message to read: %v; want kept in use", got)
	}
	subscriber.KillWait()
	o = stat(t, name, nil)
	want = fmt.Sprintf("publisher pid %d and subscriber pid %d died without closing it", publisher.Pid(), subscriber.Pid())
	if o.State != inspect.Stale || !strings.Contains(o.Reason, want) || o.Undelivered() != 0 {
		t.Fatalf("after SIGKILL of both: %s (%s), %d undelivered; want stale: %s", o.State, o.Reason, o.Undelivered(), want)
	}
	outs, err = inspect.Clean(context.Background(), &inspect.CleanOptions{Options: inspect.Options{Prefix: name, Kind: inspect.KindTopic}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Removed || got.Object.Kind != inspect.KindTopic {
		t.Errorf("stale topic, Force: %v; want removed", got)
	}
	if _, err := shm.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Clean: Stat = %v; want the topic gone", err)
	}
}

// TestClosedTopic: a topic closed for publishing is idle, not stale, and
// stays so after a subscriber that read it closes; a subscriber killed on
// it makes it stale.
func TestClosedTopic(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	name := shmtest.Name(t, "")
	tp, err := topic.Create(name, 4096, topic.History(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Publish(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	tp.Close()
	o := stat(t, name, nil)
	if o.State != inspect.Idle || !o.Topic.Closed || !strings.Contains(o.Reason, "closed for publishing") {
		t.Errorf("closed topic: %s (%s); want idle, closed", o.State, o.Reason)
	}
	outs, err := inspect.Clean(context.Background(), &inspect.CleanOptions{Options: inspect.Options{Prefix: name}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Kept || !strings.HasPrefix(got.Reason, "idle") {
		t.Errorf("closed topic, Force without Idle: %v; want kept as idle", got)
	}
	subscriber := peer(t, "subscriber", name)
	if o := stat(t, name, nil); o.State != inspect.InUse {
		t.Errorf("closed topic with a live subscriber: %s (%s); want in use", o.State, o.Reason)
	}
	subscriber.KillWait()
	want := fmt.Sprintf("nobody attached; subscriber pid %d died without closing it", subscriber.Pid())
	if o := stat(t, name, nil); o.State != inspect.Stale || o.Reason != want {
		t.Errorf("closed topic, its subscriber killed: %s (%s); want stale: %s", o.State, o.Reason, want)
	}
}

// TestCleanKeeps: what Clean keeps even with Force, and why.
func TestCleanKeeps(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	idle := shmtest.Name(t, "")
	seg, err := shm.Create(idle, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	mapped := shmtest.Name(t, "")
	seg, err = shm.Create(mapped, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	holder := peer(t, "map", mapped)

	tests := []struct {
		name   string
		object string
		opts   inspect.CleanOptions
		action inspect.Action
		reason string
	}{
		{"idle data segment", idle, inspect.CleanOptions{Force: true}, inspect.Kept, "idle"},
		{"idle segment too young", idle, inspect.CleanOptions{Force: true, Idle: true, OlderThan: time.Hour, HasOlderThan: true}, inspect.Kept, "less than 1h0m0s"},
		{"mapped, even with --idle --older-than 0s", mapped, inspect.CleanOptions{Force: true, Idle: true, HasOlderThan: true}, inspect.Kept, fmt.Sprintf("pid %d", holder.Pid())},
		{"idle, dry run", idle, inspect.CleanOptions{Idle: true, HasOlderThan: true}, inspect.WouldRemove, "idle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Prefix = tc.object
			outs, err := inspect.Clean(context.Background(), &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := outcomeOf(t, outs, tc.object)
			if got.Action != tc.action || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("%v; want %s, with %q in the reason", got, tc.action, tc.reason)
			}
			if _, err := shm.Stat(tc.object); err != nil {
				t.Errorf("the object is gone: %v", err)
			}
		})
	}

	// Taken at last: the idle segment with --idle --older-than 0s.
	outs, err := inspect.Clean(context.Background(), &inspect.CleanOptions{Options: inspect.Options{Prefix: idle}, Force: true, Idle: true, HasOlderThan: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, idle); got.Action != inspect.Removed {
		t.Errorf("idle with Idle and OlderThan 0: %v; want removed", got)
	}

	if _, err := inspect.Clean(context.Background(), &inspect.CleanOptions{Idle: true}); !errors.Is(err, inspect.ErrIdleNeedsAge) {
		t.Errorf("Idle without OlderThan: %v; want ErrIdleNeedsAge", err)
	}
}

// TestCleanOpenerRace: a process that opens the object by name while Clean
// removes it is never left holding the object with its name gone: either
// Clean saw it at the final check and put the name back, or its open
// failed. Many trials, each with an opener racing Clean.
func TestCleanOpenerRace(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	trials := 300
	if testing.Short() {
		trials = 50
	}
	var removed, kept, late, attached int
	cleanTime := time.Millisecond
	for i := range trials {
		name := shmtest.Name(t, "")
		seg, err := shm.Create(name, 4096)
		if err != nil {
			t.Fatal(err)
		}
		seg.Close()

		var stop atomic.Bool
		var wg sync.WaitGroup
		var held *shm.Segment
		// The opener starts at a random moment within one Clean's time, so
		// that some trials land between the first look and the final check.
		delay := time.Duration(rand.Int64N(int64(cleanTime) + 1))
		if i%3 == 0 {
			delay = 0 // and some attach before Clean's first look
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(delay)
			for !stop.Load() {
				s, err := shm.Open(name)
				if err == nil {
					held = s
					return
				}
			}
		}()
		start := time.Now()
		outs, err := inspect.Clean(context.Background(), &inspect.CleanOptions{
			Options: inspect.Options{Prefix: name}, Force: true, Idle: true, HasOlderThan: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		cleanTime = (cleanTime*7 + time.Since(start)) / 8
		stop.Store(true)
		wg.Wait()
		got := outcomeOf(t, outs, name)
		switch got.Action {
		case inspect.Removed:
			removed++
		case inspect.Kept:
			kept++
			if strings.HasPrefix(got.Reason, "at the final check") {
				late++
			}
		}
		if held == nil {
			continue
		}
		attached++
		var st syscall.Stat_t
		if err := syscall.Fstat(held.Fd(), &st); err != nil {
			t.Fatal(err)
		}
		info, err := shm.Stat(name)
		held.Close()
		if err != nil || info.Inode != st.Ino {
			t.Fatalf("trial %d: the opener holds inode %d, but the name says %+v, %v (clean: %v)", i, st.Ino, info, err, got)
		}
		shm.Unlink(name)
	}
	t.Logf("%d trials: clean removed %d and kept %d (%d at the final check); the opener attached in %d", trials, removed, kept, late, attached)
	if removed == 0 || attached == 0 {
		t.Errorf("the trials never raced: removed %d, attached %d", removed, attached)
	}
}

// ExampleClean shows what a service does at start-up: remove what its
// crashed predecessors left, keep what is in use. (A directory of its own
// stands in for /dev/shm.)
func ExampleClean() {
	dir, err := os.MkdirTemp("", "example-clean")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	seg, err := shm.Create("example-clean-jobs", 4096, shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close() // mapped here: in use

	outcomes, err := inspect.Clean(context.Background(), &inspect.CleanOptions{
		Options: inspect.Options{Dir: dir, Prefix: "example-clean-"},
		Force:   true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range outcomes {
		fmt.Println(o.Object.Name, o.Action, o.Object.State)
	}
	// Output: example-clean-jobs kept in-use
}

// ExampleCleanOptions_report prints each outcome as Clean decides it, so
// that a clean stopped half-way (its context cancelled) has said what it
// did.
func ExampleCleanOptions_report() {
	dir, err := os.MkdirTemp("", "example-report")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	seg, err := shm.Create("example-report-jobs", 4096, shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close() // mapped here: in use

	_, err = inspect.Clean(context.Background(), &inspect.CleanOptions{
		Options: inspect.Options{Dir: dir, Prefix: "example-report-"},
		Force:   true,
		Report: func(o inspect.Outcome) {
			fmt.Println(o.Object.Name, o.Action, o.Object.State)
		},
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: example-report-jobs kept in-use
}

// ExampleList shows the kind and the contents an inspection reads.
func ExampleList() {
	dir, err := os.MkdirTemp("", "example-list")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	q, err := queue.Create("example-list-q", 4096, queue.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	q.Send(context.Background(), []byte("hello"))
	q.Detach()

	objs, err := inspect.List(&inspect.Options{Dir: dir, Prefix: "example-list-"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range objs {
		fmt.Println(o.Name, o.Kind, o.Undelivered(), "undelivered")
	}
	// Output: example-list-q queue 1 undelivered
}

// TestUnknownWithoutScan: when /proc cannot tell who is attached, an
// object nobody visibly uses is unknown, says why, and Clean keeps it.
func TestUnknownWithoutScan(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	info, err := shm.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	o := inspect.Classify(shm.DefaultDir, info, inspect.NoScan())
	if o.State != inspect.Unknown || o.AttachedCount() != -1 || !strings.Contains(o.Reason, "/proc does not show every process") {
		t.Errorf("without a scan: %s (%s), attached %d; want unknown, -1", o.State, o.Reason, o.AttachedCount())
	}
}

// TestCleanOtherUsers: another user's idle object is kept unless root
// passes AllUsers.
func TestCleanOtherUsers(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	p, _ := shm.Path("", name)
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	opts := &inspect.CleanOptions{Options: inspect.Options{Prefix: name}, Force: true, Idle: true, HasOlderThan: true}
	outs, err := inspect.Clean(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Kept || !strings.Contains(got.Reason, "owned by uid 65534") {
		t.Errorf("without AllUsers: %v; want kept as another user's", got)
	}
	opts.AllUsers = true
	outs, err = inspect.Clean(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomeOf(t, outs, name); got.Action != inspect.Removed {
		t.Errorf("root with AllUsers: %v; want removed", got)
	}
}

// ExampleSampler follows a queue's traffic, as "shm top" does.
func ExampleSampler() {
	dir, err := os.MkdirTemp("", "example-sampler")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	q, err := queue.Create("example-sampler-q", 4096, queue.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	s := inspect.NewSampler(&inspect.Options{Dir: dir, Prefix: "example-sampler-"})
	first, _ := s.Sample()
	fmt.Println("first sample has a rate:", first[0].Rate != nil)

	q.Send(context.Background(), []byte("hello"))
	time.Sleep(10 * time.Millisecond)
	second, _ := s.Sample()
	fmt.Println("second sample has a rate:", second[0].Rate != nil, "with bytes in:", second[0].Rate.InBytes > 0)
	// Output:
	// first sample has a rate: false
	// second sample has a rate: true with bytes in: true
}

// TestCleanSemaphore: an idle named semaphore goes through the final check
// as a semaphore, and is removed with Idle.
func TestCleanSemaphore(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	name := shmtest.Name(t, "")
	s, _, err := sem.OpenOrCreate(name, 3)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	file := shm.SemaphorePrefix + name
	if o := stat(t, file, nil); o.Kind != inspect.KindSemaphore || o.State != inspect.Idle || o.Semaphore == nil || o.Semaphore.Value != 3 {
		t.Fatalf("closed semaphore: %+v", o)
	}
	outs, err := inspect.Clean(context.Background(), &inspect.CleanOptions{
		Options: inspect.Options{Prefix: file, Kind: inspect.KindSemaphore}, Force: true, Idle: true, HasOlderThan: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomeOf(t, outs, file)
	if got.Action != inspect.Removed || got.Object.Kind != inspect.KindSemaphore || got.Object.Semaphore == nil {
		t.Errorf("%v (%+v); want the semaphore removed as a semaphore", got, got.Object.Semaphore)
	}
}

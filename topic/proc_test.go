//go:build linux

package topic

// Multi-process tests: the test binary re-executes itself as the peer, in
// one of child's roles (see shmtest.Role).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

func init() {
	for _, role := range []string{"publish", "publish-loop", "subscribe", "subscribe-stall"} {
		shmtest.Role(role, func(a shmtest.Args) int { return shmtest.ExitStatus(child(role, a)) })
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// child runs one peer role on the topic a["name"], with the arguments
// count, seed (of the generated messages) and leave. Roles:
//
//	publish          publish count checked messages (one at a time,
//	                 in batches and through Reserve), then Close
//	publish-loop     publish checked messages for ever (to be killed)
//	subscribe        Subscribe, say "ready", receive and check until EOF or
//	                 leave messages (then Close), and report
//	                 "got N first F last L missed M"
//	subscribe-stall  Subscribe, say "ready", receive count messages
//	                 and then sleep holding its entry (to be killed)
func child(role string, a shmtest.Args) error {
	ctx := context.Background()
	t, err := Open(a["name"])
	if err != nil {
		return err
	}
	count := a.Int("count")
	g := newGen(1, a.Int("seed"), min(t.MaxMessage(), 512))
	switch role {
	case "publish":
		for i := 0; i < count; {
			switch k := g.rnd.IntN(16); {
			case k == 0 && count-i >= 8:
				batch := make([][]byte, 8)
				for j := range batch {
					batch[j] = append([]byte(nil), g.next()...)
				}
				if err := t.PublishBatch(ctx, batch); err != nil {
					return err
				}
				i += len(batch)
			case k == 1:
				m := g.next()
				b, err := t.Reserve(ctx, len(m))
				if err != nil {
					return err
				}
				copy(b, m)
				if err := t.Commit(); err != nil {
					return err
				}
				i++
			default:
				if err := t.Publish(ctx, g.next()); err != nil {
					return err
				}
				i++
			}
		}
		return t.Close()
	case "publish-loop":
		fmt.Println("ready")
		for {
			m := g.next()
			if g.rnd.IntN(4) == 0 {
				// A message written in place in two halves, so that a
				// kill can land between them.
				b, err := t.Reserve(ctx, len(m))
				if err != nil {
					return err
				}
				copy(b[:len(m)/2], m)
				copy(b[len(m)/2:], m[len(m)/2:])
				if err := t.Commit(); err != nil {
					return err
				}
				continue
			}
			if err := t.Publish(ctx, m); err != nil {
				return err
			}
		}
	case "subscribe", "subscribe-stall":
		if err := t.Subscribe(); err != nil {
			return err
		}
		fmt.Println("ready")
		leave := a.Int("leave")
		if role == "subscribe-stall" {
			leave = count
		}
		chk := checker{}
		var buf []byte
		for leave == 0 || chk.got < leave {
			buf, err = t.Receive(ctx, buf)
			var lag *LaggedError
			switch {
			case err == io.EOF:
				fmt.Println(chk.String())
				return t.Close()
			case errors.As(err, &lag):
				chk.lagged(lag.Missed)
				continue
			case err != nil:
				return fmt.Errorf("after %s: %w", chk.String(), err)
			}
			if role == "subscribe-stall" {
				chk.got++ // its messages are not checked ones
				continue
			}
			if err := chk.check(buf); err != nil {
				return err
			}
		}
		if role == "subscribe-stall" {
			fmt.Println("stalled")
			time.Sleep(time.Hour)
		}
		fmt.Println(chk.String())
		return t.Close()
	}
	return fmt.Errorf("unknown role %q", role)
}

// gen makes checked messages: publisher id (4 bytes), sequence number (8),
// bytes derived from both, and a CRC-32 of everything before it (4).
// Sizes are random from 16 to max.
type gen struct {
	id  uint32
	seq uint64
	max int
	rnd *rand.Rand
	buf []byte
}

func newGen(id, seed, max int) *gen {
	return &gen{id: uint32(id), max: max, rnd: rand.New(rand.NewPCG(uint64(seed), 7)), buf: make([]byte, max)}
}

func (g *gen) next() []byte {
	n := 16 + g.rnd.IntN(g.max-16+1)
	b := g.buf[:n]
	binary.LittleEndian.PutUint32(b, g.id)
	binary.LittleEndian.PutUint64(b[4:], g.seq)
	for i := 12; i < n-4; i++ {
		b[i] = byte(g.seq) ^ byte(i)
	}
	binary.LittleEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
	g.seq++
	return b
}

// checker verifies checked messages of one publisher: whole (checksum)
// and in order with nothing lost or duplicated from the first, except the
// messages a lag reported missed.
type checker struct {
	got         int
	first, next uint64
	missed      uint64
}

func (c *checker) check(m []byte) error {
	if len(m) < 16 {
		return fmt.Errorf("%d-byte message, want at least 16", len(m))
	}
	if got, want := binary.LittleEndian.Uint32(m[len(m)-4:]), crc32.ChecksumIEEE(m[:len(m)-4]); got != want {
		return fmt.Errorf("torn %d-byte message after %s: checksum %#x, want %#x", len(m), c.String(), got, want)
	}
	seq := binary.LittleEndian.Uint64(m[4:])
	if c.got == 0 && c.missed == 0 {
		c.first, c.next = seq, seq
	}
	if seq != c.next {
		return fmt.Errorf("message %d came when %d was due (%s)", seq, c.next, c.String())
	}
	c.next++
	c.got++
	return nil
}

func (c *checker) lagged(n uint64) {
	c.missed += n
	c.next += n
}

func (c *checker) String() string {
	return fmt.Sprintf("got %d first %d last %d missed %d", c.got, c.first, int64(c.next)-1, c.missed)
}

// parseReport reads a child's "got N first F last L missed M" line.
func parseReport(line string) (got, first, last, missed int64, err error) {
	_, err = fmt.Sscanf(strings.TrimSpace(line), "got %d first %d last %d missed %d", &got, &first, &last, &missed)
	return
}

// childProc is a peer: the test binary in one of child's roles.
type childProc struct{ *shmtest.Child }

// spawn starts a peer in role on topic name, with the role's arguments in
// more (count, seed and leave are 0 unless set there). It is killed and
// reaped when the test ends.
func spawn(t testing.TB, role, name string, more ...shmtest.Args) *childProc {
	t.Helper()
	a := shmtest.Args{"name": name, "count": "0", "seed": "0", "leave": "0"}
	for _, m := range more {
		maps.Copy(a, m)
	}
	return &childProc{shmtest.Spawn(t, role, a)}
}

// childTimeout bounds the waits for a peer's lines and its end: generous,
// for a loaded machine and a race build.
const childTimeout = 5 * time.Minute

// kill kills the child and reaps it.
func (c *childProc) kill() { c.KillWait() }

// wait waits for the child to end and returns nil if it exited with
// status 0, or an error with its output.
func (c *childProc) wait() error { return c.Wait(childTimeout) }

// line reads the child's next line of output.
func (c *childProc) line(t testing.TB) string {
	t.Helper()
	line, ok := c.Next(childTimeout)
	if !ok {
		t.Fatalf("child %s said nothing more; output:\n%s", c.Role, c.Output())
	}
	return strings.TrimSpace(line)
}

func (c *childProc) ready(t testing.TB) {
	t.Helper()
	if line := c.line(t); line != "ready" {
		t.Fatalf("child said %q; want ready", line)
	}
}

// fanOutCount is the message count of the fan-out test.
const fanOutCount = 1_000_000

// TestProcessFanOut: four subscriber processes that joined before the
// publisher started each receive every one of its messages (random sizes,
// checksums), none lost, duplicated or reordered, on a lossless topic,
// while other subscriber processes join and leave during the run and get
// an unbroken run of messages from where they joined.
func TestProcessFanOut(t *testing.T) {
	count := fanOutCount
	switch {
	case raceEnabled:
		count /= 20
	case testing.Short():
		count /= 10
	}
	name, _ := newTopic(t, 1<<18, MaxMessage(512))
	var steady []*childProc
	for range 4 {
		c := spawn(t, "subscribe", name)
		c.ready(t)
		steady = append(steady, c)
	}
	pub := spawn(t, "publish", name, shmtest.Args{"count": strconv.Itoa(count), "seed": "1"})
	published := make(chan error, 1)
	go func() { published <- pub.wait() }()

	// Transient subscribers join, read a while and leave, until the
	// publisher is done.
	rnd := rand.New(rand.NewPCG(3, 4))
	var transient []*childProc
	var leaves []int
	for done := false; !done; {
		leave := 1 + rnd.IntN(count/10)
		c := spawn(t, "subscribe", name, shmtest.Args{"leave": strconv.Itoa(leave)})
		c.ready(t)
		transient = append(transient, c)
		leaves = append(leaves, leave)
		select {
		case err := <-published:
			if err != nil {
				t.Fatalf("publisher: %v", err)
			}
			done = true
		case <-time.After(time.Duration(rnd.IntN(300)) * time.Millisecond):
		}
	}
	for i, c := range steady {
		got, first, last, _, err := parseReport(c.line(t))
		if err != nil || got != int64(count) || first != 0 || last != int64(count-1) {
			t.Errorf("subscriber %d: got %d first %d last %d (%v); want all %d", i, got, first, last, err, count)
		}
		if err := c.wait(); err != nil {
			t.Errorf("subscriber %d: %v", i, err)
		}
	}
	total := int64(0)
	for i, c := range transient {
		got, first, last, _, err := parseReport(c.line(t))
		if err != nil || last-first+1 != got || got > int64(leaves[i]) {
			t.Errorf("transient subscriber %d: got %d first %d last %d (%v), leaving after %d", i, got, first, last, err, leaves[i])
		}
		if got > 0 && got < int64(leaves[i]) && last != int64(count-1) { // (0: it joined after the end)
			t.Errorf("transient subscriber %d: left early at %d without reaching the end", i, last)
		}
		if err := c.wait(); err != nil {
			t.Errorf("transient subscriber %d: %v", i, err)
		}
		total += got
	}
	t.Logf("%d messages to 4 subscribers; %d transient subscribers joined and left, %d messages between them", count, len(transient), total)
}

// TestProcessSubscriberDies: a subscriber that stalls a lossless publisher
// and is then killed stops holding it back within one second.
func TestProcessSubscriberDies(t *testing.T) {
	ctx := ctxT(t)
	// No start grace: only the stalled subscriber holds the publisher.
	name, pub := newTopic(t, 4096, StartGrace(0))
	k := spawn(t, "subscribe-stall", name, shmtest.Args{"count": "1"})
	k.ready(t)
	msg := make([]byte, 100)
	if err := pub.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if line := k.line(t); line != "stalled" {
		t.Fatalf("child said %q, want stalled", line)
	}
	for pub.TryPublish(msg) == nil {
	}
	errc := make(chan error, 1)
	go func() { errc <- pub.Publish(ctx, msg) }()
	time.Sleep(50 * time.Millisecond)
	k.kill()
	killed := time.Now()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the publisher went on %v after the subscriber's death", time.Since(killed))
	case <-time.After(time.Second):
		t.Fatal("the publisher still waits one second after the subscriber's death")
	}
	st, err := Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != 0 {
		t.Errorf("Stat after the death: %d active subscribers, want 0 (the entry reclaimed)", st.Active)
	}
}

// TestProcessPublisherDies: a subscriber gets every whole message the
// killed publisher committed, then ErrPeerDead within a second, and the
// next publisher's messages follow without a gap.
func TestProcessPublisherDies(t *testing.T) {
	ctx := ctxT(t)
	name, _ := newTopic(t, 1<<14)
	sub := subscribe(t, name)
	k := spawn(t, "publish-loop", name, shmtest.Args{"seed": "9"})
	k.ready(t)
	chk := checker{}
	var buf []byte
	for chk.got < 5000 {
		var err error
		if buf, err = sub.Receive(ctx, buf); err != nil {
			t.Fatal(err)
		}
		if err := chk.check(buf); err != nil {
			t.Fatal(err)
		}
	}
	k.kill()
	killed := time.Now()
	for {
		var err error
		buf, err = sub.Receive(ctx, buf)
		if errors.Is(err, ErrPeerDead) {
			if d := time.Since(killed); d > time.Second {
				t.Errorf("ErrPeerDead %v after the kill, want within a second", d)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := chk.check(buf); err != nil {
			t.Fatal(err)
		}
	}
	// A new publisher takes over where the dead one stopped.
	pub := open(t, name)
	if err := pub.Publish(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	if buf, err := sub.Receive(ctx, buf); err != nil || string(buf) != "after" {
		t.Fatalf("after the takeover: %q, %v", buf, err)
	}
	if _, err := sub.Receive(ctx, buf); err != io.EOF {
		t.Fatalf("after Close: %v, want io.EOF", err)
	}
}

// TestProcessOverwriteStopped: a subscriber stopped with SIGSTOP while the
// publisher laps it reports an exact count: received + missed ==
// published, and every message it received is whole and in order.
func TestProcessOverwriteStopped(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 1<<12, Overwrite())
	k := spawn(t, "subscribe", name)
	k.ready(t)
	g := newGen(1, 5, 512)
	published := 0
	publish := func(n int) {
		for range n {
			if err := pub.Publish(ctx, g.next()); err != nil {
				t.Fatal(err)
			}
			published++
		}
	}
	publish(100)
	shmtest.Stop(t, k.Cmd.Process.Pid)
	publish(5000) // many laps of a 4 KiB ring
	if err := k.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	publish(100)
	pub.Close()
	got, first, last, missed, err := parseReport(k.line(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.wait(); err != nil {
		t.Fatal(err)
	}
	if first != 0 || last != int64(published-1) || got+missed != int64(published) || missed == 0 {
		t.Fatalf("got %d + missed %d, first %d last %d; want %d published, some missed", got, missed, first, last, published)
	}
	t.Logf("published %d: received %d, missed %d", published, got, missed)
}

//go:build linux

package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

func init() {
	shmtest.Role("go-topic-pub", goTopicPubRole)
}

// goTopicPubRole publishes a["count"] messages "m0", "m1", ... to the topic
// a["name"], says "published" and waits to be killed.
func goTopicPubRole(a shmtest.Args) int {
	p, err := topic.Open(a["name"])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	for i := range a.Int("count") {
		if err := p.TryPublish([]byte(fmt.Sprintf("m%d", i))); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	fmt.Println("published")
	time.Sleep(time.Hour)
	return 0
}

// buildTopicPeer compiles testdata/topicpeer.c with the C library, once
// per set of extra flags, and returns the program's path.
func buildTopicPeer(t testing.TB, extra ...string) string {
	t.Helper()
	gcc := shmtest.Need(t, "gcc")
	builds.Lock()
	defer builds.Unlock()
	key := "topicpeer " + strings.Join(extra, " ")
	if p, ok := builds.done[key]; ok {
		return p
	}
	root := repoDir(t)
	bin := filepath.Join(buildDir, fmt.Sprintf("topicpeer%d", len(builds.done)))
	args := append(append([]string{"-O2"}, cFlags...), extra...)
	args = append(args, "-I", filepath.Join(root, "c"), "-o", bin, filepath.Join(root, "interop", "testdata", "topicpeer.c"), filepath.Join(root, "c", "shmq.c"))
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if builds.done == nil {
		builds.done = map[string]string{}
	}
	builds.done[key] = bin
	return bin
}

// subscriber is a subscriber process whose first line of output says it
// joined.
type subscriber struct {
	cmd    *exec.Cmd
	out    strings.Builder
	stderr strings.Builder
	done   chan struct{}
}

// startSubscriber starts cmd and returns once it printed "ready" (it is in
// the subscriber table), failing the test if it does not within a minute.
func startSubscriber(t *testing.T, cmd *exec.Cmd) *subscriber {
	t.Helper()
	s := &subscriber{cmd: cmd, done: make(chan struct{})}
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		r := bufio.NewReader(pr)
		line, _ := r.ReadString('\n')
		ready <- line
		rest, _ := io.ReadAll(r)
		s.out.Write(rest)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s did not join: %q %s", cmd.Path, line, s.stderr.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s did not join within a minute", cmd.Path)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
		cmd.Wait()
	})
	return s
}

// result waits for the subscriber to end and returns what it printed
// after "ready".
func (s *subscriber) result(t *testing.T) string {
	t.Helper()
	err := waitCmd(t, s.cmd, 2*time.Minute)
	<-s.done
	o := strings.TrimSpace(s.out.String())
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", s.cmd.Path, err, o, s.stderr.String())
	}
	return o
}

// publishCRC publishes messages from..to-1 in the crcMsg format, with
// payloads of random sizes up to maxLen bytes in all.
func publishCRC(t *testing.T, p *topic.Topic, r *rand.Rand, from, to uint64, maxLen int) {
	t.Helper()
	payload := make([]byte, maxLen)
	for seq := from; seq < to; seq++ {
		n := r.IntN(maxLen - 12 + 1)
		for i := range payload[:n] {
			payload[i] = byte(r.Uint32())
		}
		ctx, cancel := ctxFor(time.Minute)
		err := p.Publish(ctx, crcMsg(seq, payload[:n]))
		cancel()
		if err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
	}
}

func topicCount() int {
	if testing.Short() {
		return 1000
	}
	return 4000
}

// TestTopicGoToCAndPython: a Go publisher, one C and one Python subscriber
// process on a lossless topic; a few thousand checksummed messages of
// random sizes through a ring small enough to wrap often. Each subscriber
// gets every message, in order, and then the end of the stream.
func TestTopicGoToCAndPython(t *testing.T) {
	shmtest.SkipShort(t)
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	csub := startSubscriber(t, exec.Command(buildTopicPeer(t), "sub", name))
	pysub := startSubscriber(t, python(t, filepath.Join(repoDir(t), "interop", "testdata", "pytopic.py"), name))
	n := uint64(topicCount())
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	publishCRC(t, p, r, 0, n, 3000)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("received %d missed 0", n)
	for _, s := range []*subscriber{csub, pysub} {
		if got := s.result(t); got != want {
			t.Errorf("%s: %q, want %q", s.cmd.Path, got, want)
		}
	}
}

// TestTopicAbortGoToCAndPython: a Go publisher that aborts its stream; a C
// and a Python subscriber get every message it published and then the
// aborted end, never the end of file of a complete stream.
func TestTopicAbortGoToCAndPython(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	csub := startSubscriber(t, exec.Command(buildTopicPeer(t), "sub", name))
	pysub := startSubscriber(t, python(t, filepath.Join(repoDir(t), "interop", "testdata", "pytopic.py"), name))
	const n = 500
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 19))
	publishCRC(t, p, r, 0, n, 3000)
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("received %d missed 0 aborted", n)
	for _, s := range []*subscriber{csub, pysub} {
		if got := s.result(t); got != want {
			t.Errorf("%s: %q, want %q", s.cmd.Path, got, want)
		}
	}
}

// TestTopicOverwriteStoppedC: on an overwrite topic a C subscriber stopped
// with SIGSTOP while the publisher goes on laps; resumed, it reports the
// lag, and what it received plus what it was told it missed is every
// message published.
func TestTopicOverwriteStoppedC(t *testing.T) {
	shmtest.SkipShort(t)
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 8<<10, topic.Overwrite())
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	s := startSubscriber(t, exec.Command(buildTopicPeer(t), "sub", name))
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	n := uint64(topicCount())
	publishCRC(t, p, r, 0, n/4, 1000)
	shmtest.Stop(t, s.cmd.Process.Pid)
	publishCRC(t, p, r, n/4, 3*n/4, 1000) // many times the ring
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	publishCRC(t, p, r, 3*n/4, n, 1000)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var got, missed uint64
	o := s.result(t)
	if _, err := fmt.Sscanf(o, "received %d missed %d", &got, &missed); err != nil {
		t.Fatalf("C subscriber: %q: %v", o, err)
	}
	if got+missed != n || missed == 0 {
		t.Fatalf("C subscriber received %d and missed %d of %d published; want a sum of %d with some missed", got, missed, n, n)
	}
	t.Logf("received %d, missed %d of %d", got, missed, n)
}

// TestTopicOverwriteLappedCAndPython: a Go publisher that never waits
// laps a 1 KiB overwrite ring thousands of times a second for a few
// seconds while a C and a Python subscriber receive. A record written over
// while a subscriber reads it is a lap, never corruption: each subscriber
// ends with the end of the stream, every message it got intact and in
// order, and received plus missed equal to the messages published.
func TestTopicOverwriteLappedCAndPython(t *testing.T) {
	shmtest.SkipShort(t)
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 1024, topic.Overwrite(), topic.MaxMessage(64))
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	csub := startSubscriber(t, exec.Command(buildTopicPeer(t), "sub", name))
	pysub := startSubscriber(t, python(t, filepath.Join(repoDir(t), "interop", "testdata", "pytopic.py"), name))
	payload := []byte("lapped")
	var n uint64
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		for range 1000 {
			if err := p.TryPublish(crcMsg(n, payload[:n%uint64(len(payload)+1)])); err != nil {
				t.Fatalf("publish %d: %v", n, err)
			}
			n++
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*subscriber{csub, pysub} {
		var got, missed uint64
		o := s.result(t)
		if _, err := fmt.Sscanf(o, "received %d missed %d", &got, &missed); err != nil {
			t.Fatalf("%s: %q: %v", s.cmd.Path, o, err)
		}
		if got+missed != n || missed == 0 {
			t.Errorf("%s received %d and missed %d of %d published; want a sum of %d with some missed", s.cmd.Path, got, missed, n, n)
		}
		t.Logf("%s: received %d, missed %d of %d", s.cmd.Path, got, missed, n)
	}
}

// topicHostileFields are the header words and subscriber entry words a
// hostile peer rewrites: offset and size.
var topicHostileFields = [][2]int{
	{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}, {32, 4},
	{64, 8}, {72, 8}, {80, 4}, {84, 4}, {128, 4}, {132, 4}, {136, 4}, {144, 8},
	{256, 8}, {264, 8}, {272, 4},
}

// TestTopicCSubscriberHostile: the C subscriber, built with
// AddressSanitizer and UndefinedBehaviorSanitizer, receives while this
// process rewrites the topic's header, cursors, table and records at
// random and a Go publisher keeps publishing (odd trials spare the static
// header line, so that the attack reaches cursors and records). Every call
// must return a message or a documented error code, and the sanitizers
// must report nothing.
func TestTopicCSubscriberHostile(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildTopicPeer(t, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 19))
	const capacity = 16 << 10
	header := 8192 // the default 64 subscriber entries need a second page
	n := trials(4, 30)
	dur := 700 * time.Millisecond
	writes, corrupt := 0, 0
	for trial := range n {
		name := shmtest.Name(t, "")
		opts := []topic.Option{}
		if trial%4 >= 2 {
			opts = append(opts, topic.Overwrite())
		}
		tp, err := topic.Create(name, capacity, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { topic.Unlink(name) })
		b, closeMap := mapObject(t, name)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // a publisher that keeps going whatever happens
			defer wg.Done()
			p, err := topic.Open(name)
			if err != nil {
				return
			}
			defer func() {
				if p != nil {
					p.Detach()
				}
			}()
			msg := make([]byte, 600)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				if err := p.Publish(ctx, msg[:i%len(msg)]); err != nil && ctx.Err() == nil {
					p.Detach()
					if p, err = topic.Open(name); err != nil {
						p = nil
						cancel()
						return
					}
				}
				cancel()
			}
		}()
		cmd := exec.Command(peer, "hostile", name, fmt.Sprint(dur.Milliseconds()))
		cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		known := []uint64{0, 1, 2, 3, 15, 16, 17, 64, capacity, capacity - 16, capacity + 16, 1 << 31, 1 << 32, 0x4349504f544d4853, 1 << 40, ^uint64(0)}
		end := time.Now().Add(dur - 50*time.Millisecond)
		time.Sleep(50 * time.Millisecond) // let it join first, most of the time
		for time.Now().Before(end) {
			var off, size int
			if r.IntN(3) == 0 {
				off, size = header+8*r.IntN(capacity/8), []int{4, 8}[r.IntN(2)]
			} else {
				f := topicHostileFields[r.IntN(len(topicHostileFields))]
				if trial%2 == 1 && f[0] < 64 {
					continue
				}
				off, size = f[0], f[1]
			}
			val := known[r.IntN(len(known))]
			if r.IntN(2) == 0 {
				val = r.Uint64()
			}
			if size == 8 {
				mem.MustUint64(b, off).Store(val)
			} else {
				mem.MustUint32(b, off).Store(uint32(val))
			}
			writes++
			time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
		}
		err = waitCmd(t, cmd, dur+time.Minute)
		close(stop)
		wg.Wait()
		closeMap()
		tp.Close()
		o := out.String()
		if err != nil || !strings.Contains(o, "done ops=") || strings.Contains(o, "Sanitizer") || strings.Contains(o, "runtime error") {
			t.Fatalf("trial %d: the C subscriber under attack: %v\n%s", trial, err, o)
		}
		var ops, ok, errs, c int
		fmt.Sscanf(strings.TrimSpace(o), "done ops=%d ok=%d errors=%d corrupt=%d", &ops, &ok, &errs, &c)
		corrupt += c
		t.Logf("trial %d: %s", trial, strings.TrimSpace(o))
	}
	if corrupt == 0 {
		t.Errorf("%d trials, %d rewrites: the C subscriber never reported damage", n, writes)
	}
	t.Logf("%d trials, %d random rewrites: errors only, no sanitizer report", n, writes)
}

// TestPythonTopicAPI runs testdata/pyapi.py's topic checks on an overwrite
// topic that Go publishes to: FileNotFoundError and NotTopic, Empty and
// Timeout, then, after Go published 201 messages through a ring that
// holds a few of them and closed the topic, one Lagged whose missed count
// and the messages iteration returns until the end add up to all 201.
func TestPythonTopicAPI(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 1024, topic.Overwrite())
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	cmd := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "topic", name)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := startSubscriber(t, cmd)
	for i := range 201 {
		if err := p.TryPublish([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "go\n")
	o := s.result(t)
	var missed, got int
	if _, err := fmt.Sscanf(o, "ok %d %d", &missed, &got); err != nil || missed+got != 201 || missed == 0 {
		t.Fatalf("pyapi.py topic: %q, want ok with missed + received = 201", o)
	}
	t.Logf("%s", o)
}

// TestTopicPublisherKilled: shmt-sub --follow (the C library's line
// program) waits on a topic whose Go
// publisher is killed with SIGKILL after 5 messages: it prints the 5,
// reports the dead publisher and exits with status 4, within seconds.
func TestTopicPublisherKilled(t *testing.T) {
	shmtest.SkipShort(t)
	name := shmtest.Name(t, "")
	c, err := topic.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer c.Close()
	follow := exec.Command(buildShmtSub(t), name, "--follow")
	var fout, ferr strings.Builder
	follow.Stdout, follow.Stderr = &fout, &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	waitSubscribers(t, name, 1)
	pub := child(t, "go-topic-pub", name, "5")
	out, err := pub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "published" {
		pub.Process.Kill()
		pub.Wait()
		t.Fatalf("publisher: %q", line)
	}
	pub.Process.Kill()
	pub.Wait()
	err = waitCmd(t, follow, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("shmt-sub --follow after its publisher died: %v, want exit status 4\n%s%s", err, fout.String(), ferr.String())
	}
	if want := "m0\nm1\nm2\nm3\nm4\n"; fout.String() != want || !strings.Contains(ferr.String(), "peer process died: publisher pid") {
		t.Fatalf("shmt-sub printed %q and %q; want %q and the dead publisher", fout.String(), ferr.String(), want)
	}
}

// TestTopicCSubscriberKilled: a C subscriber of a lossless topic killed
// with SIGKILL holds the Go publisher back no longer: its entry is freed
// and the publisher goes on through many rings' worth of messages.
func TestTopicCSubscriberKilled(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := topic.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(name)
	defer p.Close()
	s := startSubscriber(t, exec.Command(buildTopicPeer(t), "sub", name))
	// The subscriber checks each message and exits at a bad one, so the
	// messages are numbered: it may read the first ones before it stops.
	payload := make([]byte, 500)
	var sent uint64
	tryPublish := func() error {
		err := p.TryPublish(crcMsg(sent, payload))
		if err == nil {
			sent++
		}
		return err
	}
	for range 4 { // fits: the subscriber need not read
		if err := tryPublish(); err != nil {
			t.Fatal(err)
		}
	}
	shmtest.Stop(t, s.cmd.Process.Pid)
	for range 16 { // the stopped subscriber holds the ring
		if err := tryPublish(); err == topic.ErrFull {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := tryPublish(); err != topic.ErrFull {
		t.Fatalf("publish past a stopped lossless subscriber: %v, want ErrFull", err)
	}
	s.cmd.Process.Kill()
	for i := range 100 {
		ctx, cancel := ctxFor(time.Minute)
		err := p.Publish(ctx, crcMsg(sent, payload))
		cancel()
		sent++
		if err != nil {
			t.Fatalf("publish %d after the subscriber was killed: %v", i, err)
		}
	}
}

// waitSubscribers waits until n subscribers are in the topic's table.
func waitSubscribers(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := topic.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, s := range st.Subscribers {
			if s.Alive {
				live++
			}
		}
		if live >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscribers joined within a minute", live, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// buildShmtSub compiles c/shmt-sub.c with the C library.
func buildShmtSub(t testing.TB) string {
	t.Helper()
	gcc := shmtest.Need(t, "gcc")
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.done["shmt-sub"]; ok {
		return p
	}
	root := repoDir(t)
	bin := filepath.Join(buildDir, "shmt-sub")
	args := append(append([]string{"-O2"}, cFlags...), "-o", bin, filepath.Join(root, "c", "shmt-sub.c"), filepath.Join(root, "c", "shmq.c"))
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if builds.done == nil {
		builds.done = map[string]string{}
	}
	builds.done["shmt-sub"] = bin
	return bin
}

// TestTopicSubLineSemantics: shm topic sub, shmt-sub and python3 -m shmkit
// topic sub print a topic's messages the same way: the history there is
// (a carriage return and an empty message kept), -n N, --follow until the
// publisher closes, -n N failing on a closed topic after what there was;
// a usage error exits 2.
func TestTopicSubLineSemantics(t *testing.T) {
	shmtest.SkipShort(t)
	shmBin, _, _ := cliTools(t)
	shmtest.Need(t, "python3")
	subBin := buildShmtSub(t)
	sub := map[string]func(name string, args ...string) *exec.Cmd{
		"shm": func(n string, a ...string) *exec.Cmd {
			return exec.Command(shmBin, append([]string{"topic", "sub", n}, a...)...)
		},
		"c": func(n string, a ...string) *exec.Cmd { return exec.Command(subBin, append([]string{n}, a...)...) },
		"python": func(n string, a ...string) *exec.Cmd {
			return python(t, append([]string{"-m", "shmkit", "topic", "sub", n}, a...)...)
		},
	}
	const all = "one\r\ntwo\n\nthree\n"
	for _, impl := range []string{"shm", "c", "python"} {
		t.Run(impl, func(t *testing.T) {
			name := shmtest.Name(t, "")
			if _, e, code := run(t, exec.Command(shmBin, "topic", "create", name, "--capacity", "4K", "--history", "8"), ""); code != 0 {
				t.Fatal(e)
			}
			defer topic.Unlink(name)
			if _, e, code := run(t, exec.Command(shmBin, "topic", "pub", name, "--keep-open"), "one\r\ntwo\n\nthree"); code != 0 {
				t.Fatal(e)
			}
			if out, e, code := run(t, sub[impl](name), ""); code != 0 || out != all {
				t.Fatalf("%s sub: exit %d, printed %q (%s)", impl, code, out, e)
			}
			if out, e, code := run(t, sub[impl](name, "-n", "2"), ""); code != 0 || out != "one\r\ntwo\n" {
				t.Fatalf("%s sub -n 2: exit %d, printed %q (%s)", impl, code, out, e)
			}
			if _, e, code := run(t, exec.Command(shmBin, "topic", "pub", name, "four"), ""); code != 0 { // and close
				t.Fatal(e)
			}
			if out, e, code := run(t, sub[impl](name, "--follow"), ""); code != 0 || out != all+"four\n" {
				t.Fatalf("%s sub --follow on a closed topic: exit %d, printed %q (%s)", impl, code, out, e)
			}
			if out, e, code := run(t, sub[impl](name, "-n", "6"), ""); code != 1 || out != all+"four\n" || !strings.Contains(e, "got 5 of 6 messages") {
				t.Fatalf("%s sub -n 6 on a closed topic of 5: exit %d, printed %q, said %q", impl, code, out, e)
			}
			// A pub that fails part-way (a message too large) aborts the
			// stream: every subscriber prints it to its end and exits 5.
			if _, e, code := run(t, exec.Command(shmBin, "topic", "pub", name), "five\n"+strings.Repeat("x", 4096)+"\n"); code != 1 {
				t.Fatalf("pub of a message too large: exit %d (%s)", code, e)
			}
			if out, e, code := run(t, sub[impl](name, "--follow"), ""); code != 5 || out != all+"four\nfive\n" || !strings.Contains(e, "topic receive "+name+": the publisher aborted the stream after 6 messages") {
				t.Fatalf("%s sub --follow on an aborted topic: exit %d, printed %q, said %q", impl, code, out, e)
			}
		})
	}
	for impl, cmd := range map[string]*exec.Cmd{"c": exec.Command(subBin), "python": python(t, "-m", "shmkit", "topic", "sub")} {
		if _, _, code := run(t, cmd, ""); code != 2 {
			t.Errorf("%s sub without a name: exit %d, want 2 (usage)", impl, code)
		}
	}
}

// TestTopicCDamage: a topic with one field rewritten is refused by the C
// subscriber (built with AddressSanitizer and UndefinedBehaviorSanitizer)
// with an error that names the field, at open, join or receive: never a
// crash, a hang or a message.
func TestTopicCDamage(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildTopicPeer(t, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
	const ring = 8192 // the ring's offset: the default 64 entries need a second page
	tests := []struct {
		name      string
		off, size int
		val       uint64
		want      string
	}{
		{"magic", 0, 8, 1, "not a topic: magic"},
		{"version", 8, 4, 2, "unsupported topic layout version: 2"},
		{"flags", 12, 4, 0x10, "header field flags at offset 12"},
		{"capacity", 16, 8, 1000, "header field capacity at offset 16"},
		{"max message", 24, 4, 1 << 30, "header field max message at offset 24"},
		{"subscribers", 28, 4, 0, "header field subscribers at offset 28"},
		{"history", 32, 4, 1 << 20, "header field history at offset 32"},
		{"tail", 64, 8, 17, "cursors tail 17"},
		{"oldest", 72, 8, 1 << 20, "cursors tail"},
		// Read once the messages kept were received.
		{"closed", 80, 4, 7, "header field closed at offset 80: 7, want 0, 1 or 2"},
		// The ring holds the first message, so the subscriber starts there
		// and finds the record's sequence wrong when it reads it.
		{"sequence", ring, 8, 5, "record at position 0 (ring offset 0, segment offset 8192): sequence 5, want 0"},
		{"length", ring + 8, 4, 1 << 20, "length 1048576, want at most the maximum message"},
		{"kind", ring + 12, 4, 7, "kind 7, want a known record kind"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			name := shmtest.Name(t, "")
			p, err := topic.Create(name, 4096, topic.History(8))
			if err != nil {
				t.Fatal(err)
			}
			defer topic.Unlink(name)
			defer p.Close()
			for i := range 3 {
				if err := p.TryPublish(crcMsg(uint64(i), []byte("payload"))); err != nil {
					t.Fatal(err)
				}
			}
			b, closeMap := mapObject(t, name)
			if tc.size == 8 {
				mem.MustUint64(b, tc.off).Store(tc.val)
			} else {
				mem.MustUint32(b, tc.off).Store(uint32(tc.val))
			}
			closeMap()
			cmd := exec.Command(peer, "sub", name)
			cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
			out, _, code := runTimeout(t, cmd, time.Minute)
			if code != 3 || !strings.Contains(out, tc.want) || strings.Contains(out, "Sanitizer") || strings.Contains(out, "runtime error") {
				t.Fatalf("C subscriber of a topic with %s rewritten: exit %d, printed %q; want exit 3 and %q", tc.name, code, out, tc.want)
			}
		})
	}
}

// runTimeout runs cmd, killing it after d, and returns its combined
// output, whether it was killed and its exit status.
func runTimeout(t *testing.T, cmd *exec.Cmd, d time.Duration) (string, bool, int) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := waitCmd(t, cmd, d)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), false, ee.ExitCode()
	}
	if err != nil {
		return out.String(), true, -1
	}
	return out.String(), false, 0
}

//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

func TestTopicCommands(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "topic", "create", name, "--capacity", "64K", "--max-message", "1K", "--subscribers", "8", "--history", "2")
	out := ok(t, "", "topic", "stat", name)
	for _, want := range []string{"kind:        topic, lossless", "capacity:    64K (65536 bytes)", "max message: 1.0K (1024 bytes)",
		"history:     2 messages", "published:   0 messages", "closed:      no", "publisher:   none", "subscribers: 0 of 8"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat output lacks %q:\n%s", want, out)
		}
	}
	ok(t, "", "topic", "pub", name, "hello", "", "world", "--keep-open")
	// The ring still holds the topic's first message: a joiner starts
	// with it.
	if got := ok(t, "", "topic", "sub", name); got != "hello\n\nworld\n" {
		t.Errorf("sub of a topic that keeps its first message printed %q", got)
	}
	// Once the ring has gone round (2048 records of 32 bytes in 64K; with
	// no subscriber, pub writes over them after its start grace), a
	// joiner gets the last two messages as history.
	const fillers = 2100
	ok(t, strings.Repeat("x\n", fillers), "topic", "pub", name, "--keep-open")
	ok(t, "one\ntwo\n", "topic", "pub", name)
	if got := ok(t, "", "topic", "sub", name); got != "one\ntwo\n" {
		t.Errorf("sub with history 2 printed %q", got)
	}
	var st struct {
		Name      string `json:"name"`
		Policy    string `json:"policy"`
		Published int64  `json:"published"`
		Closed    bool   `json:"closed"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "topic", "stat", name, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != name || st.Policy != "lossless" || st.Published != 5+fillers || !st.Closed {
		t.Errorf("stat --json = %+v, want %d messages published, lossless, closed", st, 5+fillers)
	}
	if got := ok(t, "", "topic", "sub", name, "-n", "2"); got != "one\ntwo\n" {
		t.Errorf("sub -n 2 printed %q", got)
	}
	r := shmRun(t, "", "topic", "sub", name, "-n", "3")
	if r.code != 1 || r.stderr != "shm: topic sub "+name+": got 2 of 3 messages: the topic was closed for publishing\n" {
		t.Errorf("sub -n 3 on a closed topic with 2 kept: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := ok(t, "", "topic", "sub", name, "--timeout", "20ms"); got != "one\ntwo\n" {
		t.Errorf("sub --timeout printed %q", got)
	}
}

func TestTopicRaw(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "topic", "create", name, "--capacity", "4K", "--history", "10")
	var in strings.Builder
	msgs := []string{"", "a\nb", strings.Repeat("x", 1000), "\x00\xff"}
	for _, m := range msgs {
		var hdr [4]byte
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(m)))
		in.Write(hdr[:])
		in.WriteString(m)
	}
	ok(t, in.String(), "topic", "pub", name, "--raw")
	if got := ok(t, "", "topic", "sub", name, "--raw", "--follow"); got != in.String() {
		t.Errorf("sub --raw gave %q, want %q", got, in.String())
	}
}

func TestTopicErrors(t *testing.T) {
	plain := shmtest.Name(t, "")
	ok(t, "", "create", plain, "--size", "8K")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"capacity not a power of two", []string{"topic", "create", shmtest.Name(t, ""), "--capacity", "1000"}, 2, "not a power of two"},
		{"max message too large", []string{"topic", "create", shmtest.Name(t, ""), "--capacity", "4K", "--max-message", "4K"}, 2, "--max-message 4K"},
		{"no subscribers", []string{"topic", "create", shmtest.Name(t, ""), "--subscribers", "0"}, 2, "topic create: --subscribers 0: "},
		{"history too long", []string{"topic", "create", shmtest.Name(t, ""), "--capacity", "4K", "--history", "1000"}, 2, "--history 1000"},
		{"stat of a plain segment", []string{"topic", "stat", plain}, 1, "not a topic"},
		{"sub to a plain segment", []string{"topic", "sub", plain}, 1, "not a topic"},
		{"negative start grace", []string{"topic", "pub", shmtest.Name(t, ""), "x", "--start-grace", "-1s"}, 2, "--start-grace -1s is negative"},
		{"pub to nothing", []string{"topic", "pub", shmtest.Name(t, ""), "x"}, 1, "no such file or directory"},
		{"unknown subcommand", []string{"topic", "frob"}, 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shmRun(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestTopicKind(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "topic", "create", "t", "--capacity", "4K", "--overwrite", "--dir", dir)
	s, err := topic.Open("t", topic.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	var objs []object
	if err := json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Kind != "topic" || objs[0].Details["policy"] != "overwrite" || objs[0].Details["subscribers"] != 1.0 {
		t.Fatalf("ls --json: %+v", objs)
	}
	if table := ok(t, "", "ls", "--dir", dir); !regexp.MustCompile(`(?m)^t .* topic .* overwrite subs=1$`).MatchString(table) {
		t.Fatalf("ls table does not show the topic:\n%s", table)
	}
	if out := ok(t, "", "stat", "t", "--dir", dir); !strings.Contains(out, "kind:            topic\n") {
		t.Fatalf("stat:\n%s", out)
	}
}

// waitSubscribers waits until the topic has n subscribers.
func waitSubscribers(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := topic.Stat(name)
		if err == nil && st.Active == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic has %d subscribers after 30 s, want %d (%v)", st.Active, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTopicShell runs the shell session of the help text with the built
// binary: two subscribers in the background, a million lines published,
// and both subscribers hold every line in order and exit by themselves.
func TestTopicShell(t *testing.T) {
	bin := buildShm(t)
	name := shmtest.Name(t, "")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	script := fmt.Sprintf(`set -e
%[1]s topic create %[2]s
%[1]s topic sub %[2]s --follow > %[3]s &
A=$!
%[1]s topic sub %[2]s --follow > %[4]s &
B=$!
# Both subscribers joined before anything is published.
while ! %[1]s topic stat %[2]s | grep -q 'subscribers: 2 of'; do sleep 0.05; done
seq 1000000 | %[1]s topic pub %[2]s
wait $A
wait $B
`, bin, name, a, b)
	cmd := exec.Command("sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the session failed: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the session did not end in 5 minutes; subscribers that did not exit?\n%s", stderr.String())
	}
	var want strings.Builder
	for i := 1; i <= 1_000_000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	for _, f := range []string{a, b} {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Errorf("%s holds %d lines, want the 1000000 published, in order", filepath.Base(f), bytes.Count(got, []byte("\n")))
		}
	}
}

// TestTopicSubLag: a subscriber of an overwrite topic that is stopped while
// the publisher laps it says how many messages it missed, and the lines
// it printed and the count add up to what was published.
func TestTopicSubLag(t *testing.T) {
	bin := buildShm(t)
	name := shmtest.Name(t, "")
	ok(t, "", "topic", "create", name, "--capacity", "4K", "--overwrite")
	cmd := exec.Command(bin, "topic", "sub", name, "--follow")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitSubscribers(t, name, 1)
	pub, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// An active entry may still be choosing where it starts: stopped
	// then, it would start after everything below and miss nothing. A
	// sequence stored in its entry says it has chosen (with "first", or
	// after it).
	if err := pub.Publish(t.Context(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		st, err := topic.Stat(name)
		if err == nil && len(st.Subscribers) == 1 && st.Subscribers[0].Sequence >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber did not join in 30 s (%+v, %v)", st, err)
		}
	}
	shmtest.Stop(t, cmd.Process.Pid)
	const n = 2000
	for i := range n {
		if err := pub.Publish(t.Context(), fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Process.Signal(syscall.SIGCONT)
	pub.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sub: %v\n%s", err, stderr.String())
	}
	missed := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m int
		if _, err := fmt.Sscanf(line, "shm: topic sub "+name+": missed %d message", &m); err != nil {
			t.Fatalf("stderr line %q: %v", line, err)
		}
		missed += m
	}
	lines := strings.Count(stdout.String(), "\n")
	want := n
	if strings.HasPrefix(stdout.String(), "first\n") {
		want++
	}
	if missed == 0 || lines+missed != want {
		t.Fatalf("printed %d lines and missed %d, want %d in all with some missed", lines, missed, want)
	}
	if !strings.HasSuffix(stdout.String(), fmt.Sprintf("message %d\n", n-1)) {
		t.Errorf("the last line is not the last message")
	}
}

// checkFanOut checks the demo's topic step: two subscriber processes, each
// with every message the lead published.
func checkFanOut(t *testing.T, out, lead string) {
	t.Helper()
	got := regexp.MustCompile(`\[peer (\d+)\] received (\d+) messages, each once and in order, then end-of-file`).FindAllStringSubmatch(out, -1)
	if len(got) != 2 || got[0][1] == got[1][1] || got[0][1] == lead {
		t.Fatalf("transcript lacks two subscribers' reports:\n%s", out)
	}
	for _, m := range got {
		if m[2] != strconv.Itoa(fanOutMessages) {
			t.Errorf("subscriber %s received %s messages, want %d", m[1], m[2], fanOutMessages)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("[lead %s] published %d messages; both subscribers had all of them", lead, fanOutMessages)) {
		t.Errorf("transcript lacks the publisher's report:\n%s", out)
	}
}

// TestTopicPubTimeout: a pub whose --timeout passes names the message it
// could not publish, the flag, and what held it back: a subscriber that
// does not read, or the start grace keeping message 0 with nobody there.
func TestTopicPubTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reader bool // a subscriber joins and never reads
		grace  string
		want   string
	}{
		{"stalled subscriber", true, "0", `the topic stayed full: its slowest subscriber did not read`},
		{"start grace", false, "1h", `the start grace \(--start-grace 1h0m0s\) was keeping the topic's first message`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "topic", "create", "t", "--capacity", "4K", "--dir", dir)
			if tc.reader {
				sub, err := topic.Open("t", topic.Dir(dir))
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				if err := sub.Subscribe(); err != nil {
					t.Fatal(err)
				}
			}
			// Lines 1 to 1000 take 32 ring bytes each: 127 fit in 4K.
			r := shmRun(t, lines(1, 1000), "topic", "pub", "t", "--timeout", "100ms", "--start-grace", tc.grace, "--dir", dir)
			want := regexp.MustCompile(`^shm: topic publish t: no room for message (\d+) within --timeout 100ms: ` + tc.want + `[^\n]*\n$`)
			m := want.FindStringSubmatch(r.stderr)
			if r.code != 1 || m == nil {
				t.Fatalf("exit %d, stderr %q; want 1 and one line matching %s", r.code, r.stderr, want)
			}
			st, err := topic.Stat("t", topic.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := strconv.Atoi(m[1]); int64(n) != st.Published+1 {
				t.Errorf("pub failed at message %d, but the topic holds %d published", n, st.Published)
			}
			if !st.Aborted {
				t.Errorf("the failed pub left the topic %+v, want it aborted", st)
			}
			r = shmRun(t, "", "topic", "sub", "t", "--follow", "--dir", dir)
			if r.code != abortedStatus || r.stdout != lines(1, int(st.Published)) || !strings.HasSuffix(r.stderr, "the publisher aborted the stream after "+strconv.Itoa(int(st.Published))+" messages\n") {
				t.Errorf("sub of the failed stream: exit %d, %d lines, stderr %q; want %d and the %d published", r.code, strings.Count(r.stdout, "\n"), r.stderr, abortedStatus, st.Published)
			}
		})
	}
}

// TestTopicPubAborts: a pub that fails part-way marks the stream aborted,
// with or without --keep-open, and stat says so; a complete one closes it.
func TestTopicPubAborts(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep-open=%v", keep), func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "topic", "create", "t", "--capacity", "4K", "--dir", dir)
			args := []string{"topic", "pub", "t", "--dir", dir}
			if keep {
				args = append(args, "--keep-open")
			}
			r := shmRun(t, "one\n"+strings.Repeat("x", 4096)+"\nthree\n", args...)
			if r.code != 1 || !strings.Contains(r.stderr, "message too large") {
				t.Fatalf("pub of a message too large: exit %d, stderr %q", r.code, r.stderr)
			}
			if out := ok(t, "", "topic", "stat", "t", "--dir", dir); !strings.Contains(out, "closed:      aborted") {
				t.Errorf("stat after the failed pub:\n%s", out)
			}
			r = shmRun(t, "", "topic", "sub", "t", "--dir", dir)
			if r.code != abortedStatus || r.stdout != "one\n" || r.stderr != "shm: topic receive t: the publisher aborted the stream after 1 message\n" {
				t.Errorf("sub: exit %d, stdout %q, stderr %q; want %d, the one message", r.code, r.stdout, r.stderr, abortedStatus)
			}
			// The next pub reopens the topic and ends it complete.
			ok(t, "two\n", "topic", "pub", "t", "--dir", dir)
			if got := ok(t, "", "topic", "sub", "t", "--dir", dir); got != "one\ntwo\n" {
				t.Errorf("sub after a complete pub printed %q", got)
			}
		})
	}
}

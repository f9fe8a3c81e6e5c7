//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/topic"
)

// TestAbortedStream: every way "shm queue send" fails part-way marks the
// stream aborted, so that "shm queue recv" prints what was sent and exits
// with its own status instead of taking the stream for complete; stat
// shows it.
func TestAbortedStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		stderr string
		got    string
	}{
		{"message too large", lines(1, 5) + strings.Repeat("x", 3000) + "\n" + lines(6, 10), nil,
			"shm: queue send q: message too large: 3000 bytes, the queue's maximum is 2040\n", lines(1, 5)},
		{"raw frame too large", "\x02\x00\x00\x00hi\xff\xff\x00\x00", []string{"--raw"},
			"shm: queue send q: message 2 of standard input has 65535 bytes: message too large (at most 2040)\n", "hi\n"},
		{"raw input cut short", "\x02\x00\x00\x00hi\x05\x00\x00\x00ab", []string{"--raw"},
			"shm: queue send q: standard input ends inside message 2: 2 of its 5 bytes\n", "hi\n"},
		{"timeout", "", append([]string{"--timeout", "50ms"}, strings.Split(strings.TrimSuffix(lines(1, 300), "\n"), "\n")...),
			"shm: queue send q: no room for message 256 within --timeout 50ms: the queue stayed full\n", lines(1, 255)},
		{"keep-open too", lines(1, 2) + strings.Repeat("x", 3000) + "\n", []string{"--keep-open"},
			"shm: queue send q: message too large: 3000 bytes, the queue's maximum is 2040\n", lines(1, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
			var args []string
			args = append(args, "queue", "send", "q", "--dir", dir)
			args = append(args, tc.args...)
			if r := shmRun(t, tc.stdin, args...); r.code != 1 || r.stderr != tc.stderr {
				t.Fatalf("send: exit %d, stderr %q; want 1, %q", r.code, r.stderr, tc.stderr)
			}
			if out := ok(t, "", "queue", "stat", "q", "--dir", dir); !strings.Contains(out, "closed:      aborted") {
				t.Errorf("stat after the failed send:\n%s", out)
			}
			n := strings.Count(tc.got, "\n")
			r := shmRun(t, "", "queue", "recv", "q", "--follow", "--dir", dir)
			if r.code != abortedStatus || r.stdout != tc.got || r.stderr != fmt.Sprintf("shm: queue receive q: the sender aborted the stream after %d message%s\n", n, plural(n)) {
				t.Errorf("recv --follow: exit %d, stdout %d lines, stderr %q; want %d and the %d messages sent", r.code, strings.Count(r.stdout, "\n"), r.stderr, abortedStatus, n)
			}
		})
	}
	t.Run("unreadable input", func(t *testing.T) {
		dir := t.TempDir()
		ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if code := run([]string{"queue", "send", "q", "--dir", dir}, d, new(strings.Builder), new(strings.Builder)); code != 1 {
			t.Fatalf("send from a directory: exit %d", code)
		}
		var errb strings.Builder
		code := run([]string{"queue", "recv", "q", "--dir", dir}, strings.NewReader(""), new(strings.Builder), &errb)
		if code != abortedStatus || errb.String() != "shm: queue receive q: the sender aborted the stream after 0 messages\n" {
			t.Errorf("recv: exit %d, stderr %q", code, errb.String())
		}
	})
}

// TestPeerDiedStatus: "shm queue recv" that drained the queue and found
// its sender dead (SIGKILLed, never closing) exits with its own status,
// after printing every message.
func TestPeerDiedStatus(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	send := startShm(t, pr, false, "queue", "send", "q", "--dir", dir)
	pw.WriteString("one\ntwo\n")
	waitFor(t, "two messages", func() bool {
		return strings.Contains(ok(t, "", "queue", "stat", "q", "--dir", dir), "waiting:     2 messages")
	})
	send.cmd.Process.Kill()
	send.wait(t, 10*time.Second)
	r := shmRun(t, "", "queue", "recv", "q", "--follow", "--dir", dir)
	if r.code != peerDeadStatus || r.stdout != "one\ntwo\n" || !regexp.MustCompile(`^shm: queue receive q: peer process died: producer pid \d+; 2 messages printed before\n$`).MatchString(r.stderr) {
		t.Errorf("recv from a dead sender: exit %d, stdout %q, stderr %q; want %d", r.code, r.stdout, r.stderr, peerDeadStatus)
	}
}

// TestLineModeKeepsCarriageReturn: a line's message is its bytes without
// the newline, a carriage return before it included, so text with CRLF
// line ends goes through send and recv unchanged.
func TestLineModeKeepsCarriageReturn(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	in := "dos\r\nunix\n\r\nlast\r"
	ok(t, in, "queue", "send", "q", "--dir", dir)
	if got := ok(t, "", "queue", "recv", "q", "--raw", "--dir", dir); got != "\x04\x00\x00\x00dos\r\x04\x00\x00\x00unix\x01\x00\x00\x00\r\x05\x00\x00\x00last\r" {
		t.Errorf("messages %q, want dos\\r, unix, \\r, last\\r", got)
	}
}

// TestEmptySendClosesQueue: "shm queue send" with no input still closes
// the queue, so that a "recv --follow" already waiting ends with status 0
// (and, with --keep-open, does not).
func TestEmptySendClosesQueue(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	recv := startShm(t, nil, false, "queue", "recv", "q", "--follow", "--dir", dir)
	waitFor(t, "a waiting consumer", func() bool {
		return strings.Contains(ok(t, "", "queue", "stat", "q", "--dir", dir), "consumer:    pid")
	})
	ok(t, "", "queue", "send", "q", "--keep-open", "--dir", dir)
	select {
	case <-recv.done:
		t.Fatalf("recv --follow ended after an empty send --keep-open: exit %d, stderr %q", recv.cmd.ProcessState.ExitCode(), recv.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	ok(t, "", "queue", "send", "q", "--dir", dir)
	if code := recv.wait(t, 20*time.Second); code != 0 || recv.output(t) != "" || recv.stderr.Len() != 0 {
		t.Errorf("recv --follow after an empty send: exit %d, stdout %q, stderr %q; want 0 and nothing", code, recv.output(t), recv.stderr)
	}
	if out := ok(t, "", "queue", "stat", "q", "--dir", dir); !strings.Contains(out, "closed:      yes") {
		t.Errorf("stat after an empty send:\n%s", out)
	}
}

// TestRecvTruncatedQueue: a queue truncated under a running "recv
// --follow" ends it with exit status 1 and one line that says the queue
// was truncated, after the messages that came before; the release of what
// was printed, which a broken handle cannot do, does not replace it.
func TestRecvTruncatedQueue(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "big", "--capacity", "64K", "--dir", dir)
	recv := startShm(t, nil, false, "queue", "recv", "big", "--follow", "--dir", dir)
	ok(t, "one\ntwo\n", "queue", "send", "big", "--keep-open", "--dir", dir)
	waitFor(t, "the messages printed", func() bool {
		select {
		case <-recv.done:
			return true
		default:
		}
		return strings.Contains(ok(t, "", "queue", "stat", "big", "--dir", dir), "waiting:     0 messages")
	})
	if err := os.Truncate(filepath.Join(dir, "big"), 4096); err != nil {
		t.Fatal(err)
	}
	code := recv.wait(t, 20*time.Second)
	want := regexp.MustCompile(`^shm: queue receive big: [^\n]*truncated to 4096 bytes[^\n]*\n$`)
	if code != 1 || !want.MatchString(recv.stderr.String()) || recv.output(t) != "one\ntwo\n" {
		t.Errorf("recv --follow on a truncated queue: exit %d, stdout %q, stderr %q; want 1, the two messages and one line matching %s", code, recv.output(t), recv.stderr, want)
	}
}

// TestEmptyPubClosesTopic: "topic pub" with nothing to publish still closes
// the topic, so a "sub --follow" ends with exit 0 and prints nothing.
func TestEmptyPubClosesTopic(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "topic", "create", "t", "--capacity", "4K", "--dir", dir)
	sub := startShm(t, nil, false, "topic", "sub", "t", "--follow", "--dir", dir)
	waitFor(t, "a subscriber", func() bool {
		st, err := topic.Stat("t", topic.Dir(dir))
		return err == nil && st.Active == 1
	})
	ok(t, "", "topic", "pub", "t", "--dir", dir)
	if code := sub.wait(t, 20*time.Second); code != 0 || sub.output(t) != "" || sub.stderr.Len() != 0 {
		t.Errorf("sub --follow after an empty pub: exit %d, stdout %q, stderr %q; want 0 and nothing", code, sub.output(t), sub.stderr)
	}
}

// TestInterruptedTopicSub: "topic sub --follow" stopped by SIGINT, SIGTERM
// or SIGHUP writes out every message it received, then one line, and exits
// with the interrupted status.
func TestInterruptedTopicSub(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "topic", "create", "t", "--capacity", "64K", "--dir", dir)
			sub := startShm(t, nil, true, "topic", "sub", "t", "--follow", "--dir", dir)
			waitFor(t, "a subscriber", func() bool {
				st, err := topic.Stat("t", topic.Dir(dir))
				return err == nil && st.Active == 1
			})
			var want strings.Builder
			for i := 1; i <= 100; i++ {
				fmt.Fprintf(&want, "%d\n", i)
			}
			ok(t, want.String(), "topic", "pub", "t", "--keep-open", "--dir", dir)
			waitFor(t, "the subscriber to read everything", func() bool {
				st, err := topic.Stat("t", topic.Dir(dir))
				return err == nil && len(st.Subscribers) == 1 && st.Subscribers[0].Lag == 0
			})
			sub.cmd.Process.Signal(sig)
			code := sub.wait(t, 20*time.Second)
			if code != 130 || sub.output(t) != want.String() || strings.Count(sub.stderr.String(), "\n") != 1 {
				t.Errorf("exit %d, %d bytes out of %d, stderr %q; want 130, everything, one line", code, len(sub.output(t)), want.Len(), sub.stderr)
			}
		})
	}
}

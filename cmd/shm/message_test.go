//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shmkit/shm/queue"
)

// TestMessageFormat: failures print "shm: OP NAME: reason", one line per
// failure, and usage errors "shm: COMMAND: reason; see 'shm COMMAND
// --help'", in words: never a parser's or the runtime's internals
// (strconv.ParseInt, context deadline exceeded, /dev/stdin), a name
// printed twice, or a pid of 0.
func TestMessageFormat(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	ok(t, "", "queue", "create", "idle", "--capacity", "4K", "--dir", dir)
	ok(t, "", "queue", "create", "full", "--capacity", "4K", "--dir", dir)
	ok(t, lines(1, 255), "queue", "send", "full", "--keep-open", "--dir", dir)
	ok(t, "", "queue", "create", "busy", "--capacity", "4K", "--dir", dir)
	producer, err := queue.Open("busy", queue.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.Send(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	stdinDir, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stdinDir.Close()

	for _, tc := range []struct {
		name  string
		stdin any // string, or *os.File
		args  []string
		code  int
		want  string
	}{
		{"raw input cut short", "\x05\x00\x00\x00ab", []string{"queue", "send", "q", "--raw"}, 1,
			"shm: queue send q: standard input ends inside message 1: 2 of its 5 bytes\n"},
		{"raw prefix cut short", "\x05\x00", []string{"queue", "send", "q", "--raw"}, 1,
			"shm: queue send q: standard input ends inside the length prefix of message 1 (2 of its 4 bytes)\n"},
		{"unreadable input", stdinDir, []string{"queue", "send", "q"}, 1,
			"shm: queue send q: reading standard input: is a directory\n"},
		{"integer flag", "", []string{"queue", "recv", "q", "-n", "abc"}, 2,
			"shm: queue recv: invalid -n/--count \"abc\": want a whole number; see 'shm queue recv --help'\n"},
		{"semaphore value flag", "", []string{"sem", "create", "s", "--value", "-1"}, 2,
			"shm: sem create: --value: invalid value \"-1\": want a whole number from 0 to 2147483647 (SEM_VALUE_MAX); see 'shm sem create --help'\n"},
		{"duration flag", "", []string{"queue", "send", "q", "--timeout", "5"}, 2,
			"shm: queue send: invalid --timeout \"5\": want a duration such as 500ms, 5s or 2m; see 'shm queue send --help'\n"},
		{"bool flag", "", []string{"queue", "recv", "q", "--follow=maybe"}, 2,
			"shm: queue recv: invalid --follow \"maybe\": want true or false; see 'shm queue recv --help'\n"},
		{"list flag", "", []string{"bench", "--cpus", "a,b"}, 2,
			"shm: bench: invalid --cpus \"a,b\": want whole numbers separated by commas; see 'shm bench --help'\n"},
		{"recv -n with a timeout", "", []string{"queue", "recv", "idle", "-n", "1", "--timeout", "20ms"}, 1,
			"shm: queue receive idle: got 0 of 1 messages: none came within --timeout 20ms\n"},
		{"send with a timeout", "", []string{"queue", "send", "full", "--keep-open", "--timeout", "20ms", "more"}, 1,
			"shm: queue send full: no room for message 1 within --timeout 20ms: the queue stayed full\n"},
		{"one line per failure", "", []string{"sem", "rm", "a", "b"}, 1,
			"shm: sem unlink a: no such file or directory\nshm: sem unlink b: no such file or directory\n"},
		{"a second sender", "", []string{"queue", "send", "busy", "y"}, 1,
			fmt.Sprintf("shm: queue send busy: another live process holds this role: the queue has a live producer (pid %d)\n", os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--dir", dir)
			var out, errb strings.Builder
			var code int
			if f, isFile := tc.stdin.(*os.File); isFile {
				code = run(args, f, &out, &errb)
			} else {
				code = run(args, strings.NewReader(tc.stdin.(string)), &out, &errb)
			}
			if code != tc.code || errb.String() != tc.want {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errb.String(), tc.code, tc.want)
			}
			line := regexp.MustCompile(`^shm: [a-z]+( [a-z]+)?(: | [^ :]+: )\S.*$`)
			for _, l := range strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n") {
				if !line.MatchString(l) {
					t.Errorf("line %q is not shm: OP NAME: reason", l)
				}
				for _, bad := range []string{"strconv.", "context deadline exceeded", "context canceled", "/dev/stdin", "pid 0)", "shm shm", ": shm "} {
					if strings.Contains(l, bad) {
						t.Errorf("line %q shows %q", l, bad)
					}
				}
			}
		})
	}
	// The second sender's failure did not end the live producer's stream.
	if out := ok(t, "", "queue", "stat", "busy", "--dir", dir); !strings.Contains(out, "closed:      no") {
		t.Errorf("the refused second sender changed the live producer's queue:\n%s", out)
	}
}

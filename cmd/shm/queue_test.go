package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func TestQueueCommands(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "queue", "create", name, "--capacity", "64K", "--max-message", "1K")
	out := ok(t, "", "queue", "stat", name)
	for _, want := range []string{"capacity:    64K (65536 bytes)", "max message: 1.0K (1024 bytes)", "waiting:     0 messages in 0 bytes (0.0% full)", "closed:      no", "single producer"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat output lacks %q:\n%s", want, out)
		}
	}
	ok(t, "", "queue", "send", name, "hello", "", "world", "--keep-open")
	ok(t, "one\ntwo\n", "queue", "send", name)
	var st struct {
		Name      string `json:"name"`
		Messages  int    `json:"messages"`
		Bytes     int64  `json:"bytes"`
		Closed    bool   `json:"closed"`
		Producers []struct {
			PID int `json:"pid"`
		} `json:"producers"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "queue", "stat", name, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != name || st.Messages != 5 || st.Bytes != 4*16+8 || !st.Closed || len(st.Producers) != 0 {
		t.Errorf("stat --json = %+v, want 5 messages in 72 bytes, closed", st)
	}
	if got := ok(t, "", "queue", "recv", name, "-n", "2"); got != "hello\n\n" {
		t.Errorf("recv -n 2 printed %q", got)
	}
	if got := ok(t, "", "queue", "recv", name); got != "world\none\ntwo\n" {
		t.Errorf("recv printed %q", got)
	}
	r := shmRun(t, "", "queue", "recv", name, "-n", "1")
	if r.code != 1 || r.stderr != "shm: queue receive "+name+": got 0 of 1 messages: the queue was closed for sending\n" {
		t.Errorf("recv -n 1 on a closed, empty queue: exit %d, stderr %q", r.code, r.stderr)
	}
	// A new producer reopens the queue; --timeout ends a wait.
	ok(t, "", "queue", "send", name, "--keep-open", "again")
	r = shmRun(t, "", "queue", "recv", name, "-n", "2", "--timeout", "50ms")
	if r.code != 1 || r.stdout != "again\n" || !strings.Contains(r.stderr, "got 1 of 2 messages: none came within --timeout 50ms") {
		t.Errorf("recv -n 2 --timeout with one message: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := ok(t, "", "queue", "recv", name, "--timeout", "20ms"); got != "" {
		t.Errorf("recv --timeout on an empty queue printed %q", got)
	}
}

func TestQueueRaw(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "queue", "create", name, "--capacity", "4K", "--multi-producer")
	var in strings.Builder
	msgs := []string{"", "a\nb", strings.Repeat("x", 1000), "\x00\xff"}
	for _, m := range msgs {
		var hdr [4]byte
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(m)))
		in.Write(hdr[:])
		in.WriteString(m)
	}
	ok(t, in.String(), "queue", "send", name, "--raw")
	if got := ok(t, "", "queue", "recv", name, "--raw", "--follow"); got != in.String() {
		t.Errorf("recv --raw gave %q, want %q", got, in.String())
	}
	// A truncated frame and an oversized one are errors, not hangs.
	r := shmRun(t, "\x05\x00\x00\x00ab", "queue", "send", name, "--raw")
	if r.code != 1 || !strings.Contains(r.stderr, "standard input ends inside message 1: 2 of its 5 bytes") {
		t.Errorf("truncated frame: exit %d, stderr %q", r.code, r.stderr)
	}
	r = shmRun(t, "\xff\xff\x00\x00", "queue", "send", name, "--raw")
	if r.code != 1 || !strings.Contains(r.stderr, "message too large") {
		t.Errorf("oversized frame: exit %d, stderr %q", r.code, r.stderr)
	}
	r = shmRun(t, strings.Repeat("y", 5000)+"\n", "queue", "send", name)
	if r.code != 1 || !strings.Contains(r.stderr, "message too large") {
		t.Errorf("oversized line: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRecvOutputFails: when standard output fails part-way, as on a full
// disk, recv releases the messages it wrote out whole and leaves the rest,
// the one cut short included, to the next receiver: none is lost, and
// none written whole is printed again.
func TestRecvOutputFails(t *testing.T) {
	frame := func(m string) string {
		return string(binary.LittleEndian.AppendUint32(nil, uint32(len(m)))) + m
	}
	m1, m2, m3 := "m1", "m2", "m3"
	// Long messages fill a quarter of a 4 KiB ring by the second, and recv
	// writes out in mid-stream.
	l1, l2, l3 := strings.Repeat("1", 600), strings.Repeat("2", 600), strings.Repeat("3", 600)
	for _, tc := range []struct {
		name   string
		create []string
		args   []string
		msgs   []string
		room   int    // bytes the output takes before it is full
		wrote  string // what the first recv writes out
		left   string // what the next recv prints
	}{
		{"nothing written", nil, nil, []string{m1, m2, m3}, 0, "", "m1\nm2\nm3\n"},
		{"cut inside a message", nil, nil, []string{m1, m2, m3}, 4, "m1\nm", "m2\nm3\n"},
		{"full after a message", nil, nil, []string{m1, m2, m3}, 6, "m1\nm2\n", "m3\n"},
		{"raw, cut inside a length", nil, []string{"--raw"}, []string{m1, m2, m3}, 8, frame(m1) + "\x02\x00", frame(m2) + frame(m3)},
		{"room for all", nil, nil, []string{m1, m2, m3}, 9, "m1\nm2\nm3\n", ""},
		{"full in mid-stream", nil, nil, []string{l1, l2, l3}, 700, l1 + "\n" + l2[:99], l2 + "\n" + l3 + "\n"},
		{"competing consumers", []string{"--consumers", "2"}, nil, []string{m1, m2, m3}, 4, "m1\nm", "m2\nm3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			ok(t, "", append([]string{"queue", "create", name, "--capacity", "4K"}, tc.create...)...)
			ok(t, "", append([]string{"queue", "send", name, "--keep-open"}, tc.msgs...)...)
			out := &fullWriter{room: tc.room}
			var stderr strings.Builder
			code := run(append([]string{"queue", "recv", name}, tc.args...), strings.NewReader(""), out, &stderr)
			wantCode, wantErr := 1, fmt.Sprintf("shm: queue receive %s: writing standard output: no space left on device\n", name)
			if tc.left == "" {
				wantCode, wantErr = 0, ""
			}
			if code != wantCode || stderr.String() != wantErr || out.String() != tc.wrote {
				t.Errorf("recv: exit %d, stderr %q, wrote %q; want %d, %q, %q", code, stderr.String(), out.String(), wantCode, wantErr, tc.wrote)
			}
			if got := ok(t, "", append([]string{"queue", "recv", name}, tc.args...)...); got != tc.left {
				t.Errorf("the next recv printed %q, want %q", got, tc.left)
			}
		})
	}
}

// fullWriter takes room bytes and then fails as a write to a full disk does.
type fullWriter struct {
	strings.Builder
	room int
}

func (w *fullWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.room)
	w.Builder.Write(p[:n])
	w.room -= n
	if n < len(p) {
		return n, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	}
	return n, nil
}

// TestQueuePipe is the two-shell pipe of the help text, in one process:
// "seq 100000 | shm queue send q" and "shm queue recv q --follow | wc -l".
func TestQueuePipe(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "queue", "create", name, "--capacity", "4K")
	const n = 100_000
	var seq strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&seq, i)
	}
	var wg sync.WaitGroup
	var recv result
	wg.Add(1)
	go func() {
		defer wg.Done()
		recv = shmRun(t, "", "queue", "recv", name, "--follow")
	}()
	send := shmRun(t, seq.String(), "queue", "send", name)
	wg.Wait()
	if send.code != 0 || recv.code != 0 {
		t.Fatalf("send: exit %d %q; recv: exit %d %q", send.code, send.stderr, recv.code, recv.stderr)
	}
	if recv.stdout != seq.String() {
		t.Fatalf("recv --follow printed %d lines, want the %d sent in order", strings.Count(recv.stdout, "\n"), n)
	}
}

func TestQueueErrors(t *testing.T) {
	plain := shmtest.Name(t, "")
	ok(t, "", "create", plain, "--size", "8K")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"capacity not a power of two", []string{"queue", "create", shmtest.Name(t, ""), "--capacity", "1000"}, 2, "not a power of two"},
		{"max message too large", []string{"queue", "create", shmtest.Name(t, ""), "--capacity", "4K", "--max-message", "4K"}, 2, "--max-message 4K"},
		{"bad size", []string{"queue", "create", shmtest.Name(t, ""), "--capacity", "lots"}, 2, "invalid size"},
		{"stat of a plain segment", []string{"queue", "stat", plain}, 1, "not a queue"},
		{"recv from a plain segment", []string{"queue", "recv", plain}, 1, "not a queue"},
		{"send to nothing", []string{"queue", "send", shmtest.Name(t, ""), "x"}, 1, "no such file or directory"},
		{"unknown subcommand", []string{"queue", "frob"}, 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shmRun(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestQueueStatCorrupt(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "queue", "create", name, "--capacity", "4K")
	ok(t, "", "queue", "send", name, "--keep-open", "a", "b")
	// Overwrite the first record's length with garbage.
	p := filepath.Join(shm.DefaultDir, name)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0, 0}, 4096)
	f.Close()
	r := shmRun(t, "", "queue", "stat", name)
	if r.code != 1 || !strings.Contains(r.stderr, "queue is corrupt") || !strings.Contains(r.stderr, "segment offset 4096") || !strings.Contains(r.stdout, "capacity:") {
		t.Errorf("stat of a corrupt queue: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = shmRun(t, "", "queue", "recv", name)
	if r.code != 1 || !strings.Contains(r.stderr, "queue is corrupt") {
		t.Errorf("recv of a corrupt queue: exit %d, stderr %q", r.code, r.stderr)
	}
	var _ = queue.ErrCorrupt
}

func TestQueueKind(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	ok(t, "", "create", "plain", "--size", "8K", "--dir", dir)
	q, err := queue.Open("q", queue.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Send(t.Context(), make([]byte, 1016)); err != nil {
		t.Fatal(err)
	}
	var objs []object
	if err := json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Kind != "data" || objs[1].Kind != "queue" || objs[1].Details["fill"] != "25.0%" || objs[1].Details["capacity"] != 4096.0 {
		t.Fatalf("ls --json: %+v", objs)
	}
	if table := ok(t, "", "ls", "--dir", dir); !regexp.MustCompile(`(?m)^q .* queue +\S+ +\S+ +fill=25\.0%$`).MatchString(table) {
		t.Fatalf("ls table does not show the queue's fill:\n%s", table)
	}
	if out := ok(t, "", "stat", "q", "--dir", dir); !strings.Contains(out, "kind:           queue\n") || !strings.Contains(out, "fill:           25.0%\n") {
		t.Fatalf("stat:\n%s", out)
	}
}

// TestQueueConsumers: two "recv --follow" share the lines of one "send" on
// a queue created with --consumers: each line printed once by one of them,
// each receiver's lines in order, both ending by themselves.
func TestQueueConsumers(t *testing.T) {
	name := shmtest.Name(t, "")
	if r := shmRun(t, "", "queue", "create", name, "--consumers", "0"); r.code != 2 || !strings.Contains(r.stderr, "queue create: --consumers 0: ") || !strings.Contains(r.stderr, "not from 1 to 32") {
		t.Errorf("--consumers 0: exit %d, stderr %q", r.code, r.stderr)
	}
	ok(t, "", "queue", "create", name, "--capacity", "4K", "--consumers", "2")
	if out := ok(t, "", "queue", "stat", name); !strings.Contains(out, "up to 2 competing consumers") || !strings.Contains(out, "consumers:   none") {
		t.Errorf("stat of a queue with competing consumers:\n%s", out)
	}
	const n = 20_000
	var seq strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&seq, i)
	}
	var wg sync.WaitGroup
	recv := make([]result, 2)
	for i := range recv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recv[i] = shmRun(t, "", "queue", "recv", name, "--follow")
		}()
	}
	send := shmRun(t, seq.String(), "queue", "send", name)
	wg.Wait()
	if send.code != 0 {
		t.Fatalf("send: exit %d %q", send.code, send.stderr)
	}
	seen := make([]bool, n+1)
	for i, r := range recv {
		if r.code != 0 {
			t.Fatalf("recv %d: exit %d %q", i, r.code, r.stderr)
		}
		last := 0
		for _, line := range strings.Fields(r.stdout) {
			var v int
			if _, err := fmt.Sscan(line, &v); err != nil || v < 1 || v > n || v <= last || seen[v] {
				t.Fatalf("recv %d printed %q after %d (seen before: %v)", i, line, last, v >= 1 && v <= n && seen[v])
			}
			seen[v], last = true, v
		}
	}
	for v := 1; v <= n; v++ {
		if !seen[v] {
			t.Fatalf("line %d was printed by neither receiver", v)
		}
	}
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
	"golang.org/x/sys/unix"
)

// vt is a small terminal emulator for the pseudo-terminal test: it keeps
// a screen of runes and understands what a full-screen program draws with
// (cursor moves, erasing, text), and follows the alternate screen and the
// cursor's visibility, ignoring colours, other modes and queries.
type vt struct {
	mu       sync.Mutex
	rows     [][]rune
	row, col int
	pending  []byte // an incomplete escape sequence or rune
	// altScreen and cursorHidden follow the private modes 1049 (and 47,
	// 1047) and 25, which a full-screen program must set back on exit.
	altScreen, cursorHidden bool
}

func newVT(rows, cols int) *vt {
	v := &vt{rows: make([][]rune, rows)}
	for i := range v.rows {
		v.rows[i] = []rune(strings.Repeat(" ", cols))
	}
	return v
}

// Write feeds output of the program to the screen.
func (v *vt) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := append(v.pending, p...)
	v.pending = nil
	for len(b) > 0 {
		n := v.step(b)
		if n == 0 { // incomplete: wait for more
			v.pending = append([]byte(nil), b...)
			break
		}
		b = b[n:]
	}
	return len(p), nil
}

// step consumes one character or sequence from b and returns its length,
// or 0 when b ends in the middle of one.
func (v *vt) step(b []byte) int {
	switch c := b[0]; {
	case c == 0x1b:
		if len(b) < 2 {
			return 0
		}
		switch b[1] {
		case '[':
			for i := 2; i < len(b); i++ {
				if b[i] >= 0x40 && b[i] <= 0x7e {
					v.csi(string(b[2:i]), b[i])
					return i + 1
				}
			}
			return 0
		case ']', 'P', '_', '^': // string sequences: up to BEL or ESC \
			for i := 2; i < len(b); i++ {
				if b[i] == 0x07 {
					return i + 1
				}
				if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\' {
					return i + 2
				}
			}
			return 0
		case '(', ')', '*', '+', '#':
			if len(b) < 3 {
				return 0
			}
			return 3
		}
		return 2
	case c == '\r':
		v.col = 0
	case c == '\n':
		v.row = min(v.row+1, len(v.rows)-1)
	case c == '\b':
		v.col = max(v.col-1, 0)
	case c < 0x20 || c == 0x7f:
	default:
		if !utf8.FullRune(b) {
			return 0
		}
		r, n := utf8.DecodeRune(b)
		if v.col < len(v.rows[v.row]) {
			v.rows[v.row][v.col] = r
		}
		v.col++
		return n
	}
	return 1
}

func (v *vt) csi(params string, final byte) {
	var n []int
	for _, f := range strings.Split(strings.TrimLeft(params, "?>=<"), ";") {
		var x int
		fmt.Sscanf(f, "%d", &x)
		n = append(n, x)
	}
	arg := func(i, def int) int {
		if i < len(n) && n[i] > 0 {
			return n[i]
		}
		return def
	}
	clear := func(row, from int) {
		for c := from; c < len(v.rows[row]); c++ {
			v.rows[row][c] = ' '
		}
	}
	if strings.HasPrefix(params, "?") && (final == 'h' || final == 'l') {
		for _, mode := range n {
			switch mode {
			case 47, 1047, 1049:
				v.altScreen = final == 'h'
			case 25:
				v.cursorHidden = final == 'l'
			}
		}
		return
	}
	switch final {
	case 'H', 'f':
		v.row = min(arg(0, 1)-1, len(v.rows)-1)
		v.col = arg(1, 1) - 1
	case 'A':
		v.row = max(v.row-arg(0, 1), 0)
	case 'B':
		v.row = min(v.row+arg(0, 1), len(v.rows)-1)
	case 'C':
		v.col += arg(0, 1)
	case 'D':
		v.col = max(v.col-arg(0, 1), 0)
	case 'G':
		v.col = arg(0, 1) - 1
	case 'd':
		v.row = min(arg(0, 1)-1, len(v.rows)-1)
	case 'K':
		if len(n) > 0 && n[0] == 2 {
			clear(v.row, 0)
		} else if v.col < len(v.rows[v.row]) {
			clear(v.row, v.col)
		}
	case 'J':
		from := v.row
		if len(n) > 0 && n[0] == 2 {
			from = 0
		} else if v.col < len(v.rows[v.row]) {
			clear(v.row, v.col)
			from++
		}
		for r := from; r < len(v.rows); r++ {
			clear(r, 0)
		}
	}
}

// modes returns whether the alternate screen is on and the cursor hidden.
func (v *vt) modes() (altScreen, cursorHidden bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.altScreen, v.cursorHidden
}

// screen returns the screen's lines, trailing spaces trimmed.
func (v *vt) screen() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]string, len(v.rows))
	for i, r := range v.rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	return out
}

// openPTY opens a pseudo-terminal pair of the given size.
func openPTY(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		if shmtest.InCI() {
			t.Fatalf("no pseudo-terminals: %v", err)
		}
		t.Skipf("skipping: no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// rowOf returns the screen line that starts with name and a space, or "".
func rowOf(lines []string, name string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

// TestTopInPTY drives "shm top" in a pseudo-terminal the test opens: it
// shows an object created while it runs, a queue's fill as it changes, a
// new sort order, the prefix filter, and quits on q.
// ptyTop is "shm top" running on a pseudo-terminal.
type ptyTop struct {
	cmd     *exec.Cmd
	master  *os.File
	screen  *vt
	exited  chan error
	drained chan struct{} // closed when the last output has reached screen
	before  *unix.Termios // the terminal's modes before top started
}

// startTop runs "shm top --dir dir" on a new pseudo-terminal of 30 rows
// and 160 columns, as its controlling terminal; it is killed when the test
// ends.
func startTop(t *testing.T, dir string) *ptyTop {
	t.Helper()
	const rows, cols = 30, 160
	master, slave := openPTY(t, rows, cols)
	t.Cleanup(func() { master.Close() })
	p := &ptyTop{master: master, screen: newVT(rows, cols), exited: make(chan error, 1), drained: make(chan struct{})}
	before, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	p.before = before
	p.cmd = exec.Command(buildShm(t), "top", "--dir", dir)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.Env = append(os.Environ(), "TERM=xterm")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.exited <- <-p.exited
	})
	go func() {
		defer close(p.drained)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return p
}

// waitFor waits until the screen shows what ok looks for. Generous
// deadlines: the machine may be loaded; the view refreshes every second.
func (p *ptyTop) waitFor(t *testing.T, what string, ok func(lines []string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok(p.screen.screen()) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("shm top never showed %s; the screen:\n%s", what, strings.Join(p.screen.screen(), "\n"))
}

// wait waits for top to exit, and for its last output to reach the
// screen, and returns its exit status.
func (p *ptyTop) wait(t *testing.T, after string) int {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("shm top still runs 30 s after %s; the screen:\n%s", after, strings.Join(p.screen.screen(), "\n"))
	}
	select {
	case <-p.drained:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal still open 30 s after top exited on %s", after)
	}
	return p.cmd.ProcessState.ExitCode()
}

func TestTopInPTY(t *testing.T) {
	shmtest.SkipShort(t)
	dir := shmtest.Tmpfs(t, "4m")
	q, err := queue.Create("q", 4096, queue.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	top := startTop(t, dir)
	master, waitFor := top.master, func(what string, ok func(lines []string) bool) {
		t.Helper()
		top.waitFor(t, what, ok)
	}
	waitFor("the empty queue", func(l []string) bool {
		r := rowOf(l, "q")
		return strings.Contains(r, " queue ") && strings.Contains(r, " 0.0% ")
	})

	seg, err := shm.Create("fresh", 8192, shm.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	waitFor("the object created while it runs", func(l []string) bool { return strings.Contains(rowOf(l, "fresh"), " data ") })

	// 64 records of 32 bytes: half the ring.
	for range 64 {
		if err := q.Send(context.Background(), make([]byte, 24)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("the queue's new fill", func(l []string) bool { return strings.Contains(rowOf(l, "q"), " 50.0% ") })

	// A topic with a subscriber here that reads nothing: 64 records of 32
	// bytes are half the ring it has still to read.
	tp, err := topic.Create("t", 4096, topic.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	sub, err := topic.Open("t", topic.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	for range 64 {
		if err := tp.Publish(context.Background(), make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("the topic's fill and its subscriber's lag", func(l []string) bool {
		r := rowOf(l, "t")
		return strings.Contains(r, " topic ") && strings.Contains(r, " 50.0% ") && strings.HasSuffix(r, " pub=alive,subs=1/1,lag=64/64")
	})

	master.Write([]byte("s"))
	waitFor("the next sort order", func(l []string) bool { return strings.Contains(l[0], "sort: size") })
	master.Write([]byte("/fr\r"))
	waitFor("only the filtered names", func(l []string) bool {
		return strings.Contains(l[0], "filter: fr") && rowOf(l, "fresh") != "" && rowOf(l, "q") == ""
	})

	master.Write([]byte("q"))
	if code := top.wait(t, "q"); code != 0 {
		t.Errorf("shm top exited with status %d after q", code)
	}
	if alt, hidden := top.screen.modes(); alt || hidden {
		t.Errorf("after q: alternate screen %v, cursor hidden %v", alt, hidden)
	}
}

// TestTopStoppedBySignalInPTY: top on a terminal that gets SIGINT, SIGTERM
// or SIGHUP quits as the q key does, putting the terminal back (out of
// raw mode and the alternate screen, cursor shown), and exits with
// interruptedStatus.
func TestTopStoppedBySignalInPTY(t *testing.T) {
	dir := shmtest.Tmpfs(t, "4m")
	seg, err := shm.Create("obj", 4096, shm.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	for _, sig := range stopSignalsUnderTest {
		t.Run(sigName(sig), func(t *testing.T) {
			top := startTop(t, dir)
			before := top.before
			top.waitFor(t, "the object", func(l []string) bool { return strings.Contains(rowOf(l, "obj"), " data ") })
			raw, err := unix.IoctlGetTermios(int(top.master.Fd()), unix.TCGETS)
			if alt, _ := top.screen.modes(); err != nil || raw.Lflag&unix.ICANON != 0 || !alt {
				t.Fatalf("top is running, but the terminal is not in raw mode on the alternate screen (lflag %#x, %v)", raw.Lflag, err)
			}
			top.cmd.Process.Signal(sig)
			if code := top.wait(t, sigName(sig)); code != interruptedStatus {
				t.Errorf("exit status %d after %s, want %d", code, sigName(sig), interruptedStatus)
			}
			after, err := unix.IoctlGetTermios(int(top.master.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
				t.Errorf("terminal modes after %s: lflag %#x iflag %#x oflag %#x; before: %#x %#x %#x",
					sigName(sig), after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
			}
			if alt, hidden := top.screen.modes(); alt || hidden {
				t.Errorf("after %s: alternate screen %v, cursor hidden %v", sigName(sig), alt, hidden)
			}
		})
	}
}

// TestTopOnce: with --once (and whenever standard output is not a
// terminal, as here) top prints one table that parses: a header and a row
// of nine fields per object.
func TestTopOnce(t *testing.T) {
	dir := shmtest.Tmpfs(t, "4m")
	q, err := queue.Create("jobs", 4096, queue.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	q.Send(context.Background(), make([]byte, 24))
	q.Close()
	ok(t, "", "create", "data", "--size", "4K", "--dir", dir)
	// A topic whose subscriber (here) has two messages of 16 bytes to
	// read: 64 of the ring's 4096 bytes.
	tp, err := topic.Create("news", 4096, topic.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	sub, err := topic.Open("news", topic.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := tp.Publish(context.Background(), make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"top", "--dir", dir}, {"top", "--once", "--dir", dir, "--sort", "size"}} {
		out := ok(t, "", args...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "NAME KIND SIZE ATTACHED STATE FILL IN/s OUT/s DETAIL" {
			t.Fatalf("shm %s:\n%s", strings.Join(args, " "), out)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) != 9 {
				t.Fatalf("row %q has %d fields, want 9", l, len(f))
			}
			rows[f[0]] = f
		}
		if j := rows["jobs"]; j == nil || j[1] != "queue" || j[5] != "0.8%" || !strings.Contains(j[8], "msgs=1") {
			t.Errorf("jobs row: %q", j)
		}
		if n := rows["news"]; n == nil || n[1] != "topic" || n[3] != "1" || n[4] != "in-use" || n[5] != "1.6%" || n[8] != "pub=alive,subs=1/1,lag=2/2" {
			t.Errorf("news row: %q", n)
		}
		if d := rows["data"]; d == nil || d[1] != "data" || d[2] != "4.0K" || d[5] != "-" {
			t.Errorf("data row: %q", d)
		}
	}
	if r := shmRun(t, "", "top", "--sort", "colour"); r.code != 2 {
		t.Errorf("top --sort colour: %+v; want a usage error", r)
	}
}

//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// The Go port runs as this test binary re-executed in the child role
// "mmap", the C program as our own testdata/mmap.c built with gcc. Both get
// argv[0] "./mmap", so even their usage lines must match byte for byte.

func init() {
	shmtest.Role("mmap", func(a shmtest.Args) int {
		var args []string
		if err := json.Unmarshal([]byte(a["args"]), &args); err != nil {
			panic(err)
		}
		return run(append([]string{"./mmap"}, args...), os.Stdin, os.Stdout, os.Stderr)
	})
}

func TestMain(m *testing.M) { shmtest.Main(m) }

type program struct {
	label string
	path  string // the C program; "" for the Go port
}

type result struct {
	stdout, stderr string
	code           int
}

// run starts p with args (after argv[0] "./mmap") on the object name ("" for
// the default /comento_mem), feeding stdin.
func (p program) run(t *testing.T, name, stdin string, args ...string) result {
	t.Helper()
	var cmd *exec.Cmd
	if p.path == "" {
		js, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		cmd = shmtest.Command(t, "mmap", shmtest.Args{"args": string(js)})
	} else {
		cmd = &exec.Cmd{Path: p.path, Args: append([]string{"./mmap"}, args...), Env: os.Environ()}
	}
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "SHM_MMAP_NAME=") })
	if name != "" {
		cmd.Env = append(cmd.Env, "SHM_MMAP_NAME="+name)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", p.label, args, err)
	}
	return result{out.String(), errb.String(), code}
}

func programs(t *testing.T) (goPort, cPort program) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "mmap.c"))
	if err != nil {
		t.Fatal(err)
	}
	return program{"go", ""}, program{"c", shmtest.BuildC(t, string(src))}
}

const (
	created  = "Create new shared memory\nSet the size of shared memory\nMapping the shared memeory\n"
	existing = "Mapping the shared memeory\n"
	deleted  = "Delete the shared memory\n"
)

// A turn: which program (0 the first, 1 the other), its arguments and
// input, and what it must print and return.
type turn struct {
	who    int
	args   []string
	stdin  string
	stdout string
}

// alternation is the seed's session and more, the two programs taking turns.
func alternation() []turn {
	long := strings.Repeat("L", 5000)
	return []turn{
		{0, nil, "First!!!!!!!!!\n", created},
		{1, nil, "Second!!!!!!!\n", existing + "before: First!!!!!!!!!\n"},
		{0, nil, "  \t third word\n", existing + "before: Second!!!!!!!\n"},
		{1, nil, "", existing + "before: third\n"}, // no word: nothing stored
		{0, nil, " \n ", existing + "before: third\n"},
		{1, nil, "x", existing + "before: third\n"}, // a shorter word: NUL after it
		{0, nil, long, existing + "before: x\n"},    // cut at 4095 bytes, like %4095s
		{1, nil, "y\n", existing + "before: " + long[:4095] + "\n"},
		{0, []string{"-d"}, "", deleted},
		{1, nil, "after-delete", created},
		{0, nil, "z", existing + "before: after-delete\n"},
		{1, []string{"-d"}, "", deleted},
		{1, []string{"-d"}, "", deleted}, // nothing to delete: the same
		{0, []string{"-d"}, "", deleted},
	}
}

func play(t *testing.T, progs [2]program, name string) {
	t.Helper()
	path := filepath.Join(shm.DefaultDir, strings.TrimPrefix(name, "/"))
	if name == "" {
		path = filepath.Join(shm.DefaultDir, "comento_mem")
	}
	for i, tc := range alternation() {
		p := progs[tc.who]
		r := p.run(t, name, tc.stdin, tc.args...)
		if r != (result{tc.stdout, "", 0}) {
			t.Fatalf("turn %d, %s %v: got %+v\nwant stdout %q", i, p.label, tc.args, r, tc.stdout)
		}
		fi, err := os.Stat(path)
		switch {
		case len(tc.args) > 0 && !errors.Is(err, os.ErrNotExist):
			t.Fatalf("turn %d, %s -d: the object is still there (%v)", i, p.label, err)
		case len(tc.args) == 0 && (err != nil || fi.Size() != 4096 || fi.Mode().Perm() != 0o600):
			t.Fatalf("turn %d, %s: object %v, %v; want 4096 bytes, mode 0600", i, p.label, fi, err)
		}
	}
}

// The two programs take turns on one object, each starting once.
func TestAlternate(t *testing.T) {
	goPort, cPort := programs(t)
	for _, order := range [][2]program{{cPort, goPort}, {goPort, cPort}} {
		t.Run(order[0].label+"_first", func(t *testing.T) {
			play(t, order, "/"+shmtest.Name(t, ""))
		})
	}
}

// The same turns on the real /comento_mem, the seed's object. Runs of this
// test on the machine are serialized with a lock file; an object that was
// there before is saved and put back.
func TestAlternateComentoMem(t *testing.T) {
	goPort, cPort := programs(t)
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "shm-examples-mmap-comento.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	path := filepath.Join(shm.DefaultDir, "comento_mem")
	saved, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s exists: saving its %d bytes to put them back", path, len(saved))
		t.Cleanup(func() {
			os.Remove(path)
			if err := os.WriteFile(path, saved, fi.Mode().Perm()); err != nil {
				t.Errorf("putting back %s: %v", path, err)
			}
			os.Chmod(path, fi.Mode().Perm())
		})
	case errors.Is(err, os.ErrNotExist):
		t.Cleanup(func() { os.Remove(path) })
	default:
		t.Fatal(err)
	}
	os.Remove(path)
	play(t, [2]program{cPort, goPort}, "")
}

// Both print the same usage line and exit 4 for anything but no argument,
// -d or -l alone; and both fail with exit 1 where shm_open fails for another
// reason than a missing object.
func TestSameFailures(t *testing.T) {
	goPort, cPort := programs(t)
	dirName := shmtest.Name(t, "")
	if err := os.Mkdir(filepath.Join(shm.DefaultDir, dirName), 0o700); err != nil {
		t.Fatal(err)
	}
	// Planted symbolic links, dangling or not: both programs open with
	// O_NOFOLLOW (glibc's shm_open does), so both refuse them.
	dangling, target := shmtest.Name(t, ""), shmtest.Name(t, "")
	if err := os.Symlink("/nonexistent/shm-target", filepath.Join(shm.DefaultDir, dangling)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shm.DefaultDir, target), make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	link := shmtest.Name(t, "")
	if err := os.Symlink(filepath.Join(shm.DefaultDir, target), filepath.Join(shm.DefaultDir, link)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want result
	}{
		{"/" + dangling, nil, result{"", "Failed to shm_open\n", 1}},
		{"/" + link, nil, result{"", "Failed to shm_open\n", 1}},
		{"", []string{"-x"}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"", []string{"-d", "-l"}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"", []string{"-l", "-d"}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"", []string{"a", "b", "c"}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"", []string{""}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"", []string{"--d"}, result{"", "Usage : ./mmap <-d> <-l>\n", 4}},
		{"/" + dirName, nil, result{"", "Failed to shm_open\n", 1}}, // a directory: EISDIR
		{"/no/such", nil, result{"", "Failed to shm_open\n", 1}},    // a slash inside: EINVAL
	}
	for _, tc := range tests {
		for _, p := range []program{cPort, goPort} {
			if r := p.run(t, tc.name, "word", tc.args...); r != tc.want {
				t.Errorf("%s %q on %q: %+v, want %+v", p.label, tc.args, tc.name, r, tc.want)
			}
		}
	}
}

// -l prints the header and the names in /dev/shm as ls does: the visible
// names in byte order, none starting with a dot. The test runs with a
// /dev/shm of its own, so that the listing holds its names only, whatever
// other programs create, remove or leave in the real one (names with
// newlines included).
func TestList(t *testing.T) {
	if !shmtest.OwnDevShm(t) {
		return
	}
	goPort, cPort := programs(t)
	first := shmtest.Name(t, "")
	second := first + "-z"
	t.Cleanup(func() { os.Remove(filepath.Join(shm.DefaultDir, second)) })
	hidden := "." + shmtest.Name(t, "")
	t.Cleanup(func() { os.Remove(filepath.Join(shm.DefaultDir, hidden)) })
	upper := "A" + shmtest.Name(t, "") // sorts before the lower-case names
	for _, n := range []string{second, first, hidden, upper} {
		if err := os.WriteFile(filepath.Join(shm.DefaultDir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := result{"List the shared memory:\n" + upper + "\n" + first + "\n" + second + "\n", "", 0}
	for _, p := range []program{cPort, goPort} {
		if r := p.run(t, "", "", "-l"); r != want {
			t.Errorf("%s -l: %+v, want %+v", p.label, r, want)
		}
	}
}

func TestScanWord(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", nil},
		{" \t\n\v\f\r", nil},
		{"word", []byte("word")},
		{"\n\n  word  rest", []byte("word")},
		{"abcdef", []byte("abcd")},
		{"a\x00b c", []byte("a\x00b")}, // scanf takes NUL as a byte of the word
	}
	for _, tc := range tests {
		if got := scanWord(strings.NewReader(tc.in), 4); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("scanWord(%q, 4) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

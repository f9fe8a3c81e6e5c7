package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/spf13/cobra"
)

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func shmRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok runs the command and fails the test unless it exits 0 with nothing on
// stderr.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := shmRun(t, stdin, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("shm %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func content(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shm.DefaultDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSegmentCommands walks one segment through every segment command, the
// way a user would, checking each output and the object itself.
func TestSegmentCommands(t *testing.T) {
	name := shmtest.Name(t, "")
	steps := []struct {
		args  []string
		stdin string
		check func(t *testing.T, out string)
	}{
		{args: []string{"create", name, "--size", "8K", "--mode", "0640"}, check: func(t *testing.T, out string) {
			fi, err := os.Stat(filepath.Join(shm.DefaultDir, name))
			if err != nil || fi.Size() != 8192 || fi.Mode().Perm() != 0o640 || out != "" {
				t.Fatalf("after create: %v %v, output %q", fi, err, out)
			}
		}},
		{args: []string{"ls"}, check: func(t *testing.T, out string) {
			lines := strings.Split(out, "\n")
			if f := strings.Fields(lines[0]); strings.Join(f, " ") != "NAME SIZE MODE OWNER MODIFIED KIND ATTACHED STATE DETAIL" {
				t.Fatalf("ls header %q", lines[0])
			}
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) == 10 && f[0] == name {
					// Nobody maps it: 0 attached and idle, or unknown when
					// some process could not be inspected.
					nobody := f[7] == "0" && f[8] == "idle" || f[7] == "?" && f[8] == "unknown"
					if f[1] != "8.0K" || f[2] != "-rw-r-----" || f[3] != "root" && os.Getuid() == 0 || f[6] != "data" || !nobody || f[9] != "-" {
						t.Fatalf("ls row %q", l)
					}
					return
				}
			}
			t.Fatalf("%s not in ls output:\n%s", name, out)
		}},
		{args: []string{"ls", "--json"}, check: func(t *testing.T, out string) {
			var objs []object
			if err := json.Unmarshal([]byte(out), &objs); err != nil {
				t.Fatalf("ls --json: %v\n%s", err, out)
			}
			for _, o := range objs {
				if o.Name == name {
					if o.Size != 8192 || o.Mode != "0640" || o.Kind != "data" || o.Path != "/dev/shm/"+name || o.UID != uint32(os.Getuid()) {
						t.Fatalf("ls --json entry %+v", o)
					}
					return
				}
			}
			t.Fatalf("%s not in ls --json", name)
		}},
		{args: []string{"write", name, "--offset", "1K"}, stdin: "hello, world", check: func(t *testing.T, out string) {
			b := content(t, name)
			if string(b[1024:1036]) != "hello, world" || b[1036] != 0 || b[1023] != 0 || out != "" {
				t.Fatalf("after write: % x", b[1020:1040])
			}
		}},
		{args: []string{"cat", name, "--offset", "1024", "--length", "5"}, check: func(t *testing.T, out string) {
			if out != "hello" {
				t.Fatalf("cat window = %q", out)
			}
		}},
		{args: []string{"cat", name}, check: func(t *testing.T, out string) {
			if !bytes.Equal([]byte(out), content(t, name)) {
				t.Fatalf("cat gave %d bytes, not the segment", len(out))
			}
		}},
		{args: []string{"cat", name, "--offset", "8K"}, check: func(t *testing.T, out string) {
			if out != "" {
				t.Fatalf("cat at the end = %q", out)
			}
		}},
		{args: []string{"dump", name}, check: func(t *testing.T, out string) {
			want := "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n" +
				"*\n" +
				"00000400  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 00 00 00 00  |hello, world....|\n" +
				"00000410  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n" +
				"*\n" +
				"00002000\n"
			if out != want {
				t.Fatalf("dump:\n%s\nwant:\n%s", out, want)
			}
		}},
		{args: []string{"stat", name, "--json"}, check: func(t *testing.T, out string) {
			var o object
			if err := json.Unmarshal([]byte(out), &o); err != nil {
				t.Fatalf("stat --json: %v\n%s", err, out)
			}
			if o.Name != name || o.Size != 8192 || o.Mode != "0640" || o.Perm != "-rw-r-----" || o.Kind != "data" || o.Modified.IsZero() {
				t.Fatalf("stat --json = %+v", o)
			}
		}},
		{args: []string{"stat", name}, check: func(t *testing.T, out string) {
			for _, want := range []string{"name:     " + name + "\n", "size:     8192 (8.0K)\n", "mode:     0640 (-rw-r-----)\n", "kind:     data\n"} {
				if !strings.Contains(out, want) {
					t.Fatalf("stat output lacks %q:\n%s", want, out)
				}
			}
		}},
		{args: []string{"resize", name, "1M"}, check: func(t *testing.T, out string) {
			b := content(t, name)
			if len(b) != 1<<20 || string(b[1024:1029]) != "hello" {
				t.Fatalf("after resize: %d bytes", len(b))
			}
		}},
		{args: []string{"resize", name, "4K"}, check: func(t *testing.T, out string) {
			if b := content(t, name); len(b) != 4096 || string(b[1024:1029]) != "hello" {
				t.Fatalf("after shrinking: %d bytes", len(b))
			}
		}},
		{args: []string{"edit", name}, stdin: "  First!!!\nSecond", check: func(t *testing.T, out string) {
			// It existed: before is the string at offset 0, empty here.
			if b := content(t, name); out != "before: \n" || string(b[:9]) != "First!!!\x00" {
				t.Fatalf("edit: output %q, stored %q", out, b[:9])
			}
		}},
		{args: []string{"edit", name}, stdin: "Two\n", check: func(t *testing.T, out string) {
			if b := content(t, name); out != "before: First!!!\n" || string(b[:9]) != "Two\x00t!!!\x00" {
				t.Fatalf("edit: output %q, stored %q", out, b[:9])
			}
		}},
		{args: []string{"edit", name}, stdin: " \t\n", check: func(t *testing.T, out string) {
			if b := content(t, name); out != "before: Two\n" || string(b[:4]) != "Two\x00" {
				t.Fatalf("edit without a word: output %q, stored %q", out, b[:4])
			}
		}},
		{args: []string{"rm", name}, check: func(t *testing.T, out string) {
			if _, err := os.Stat(filepath.Join(shm.DefaultDir, name)); !errors.Is(err, os.ErrNotExist) || out != "" {
				t.Fatalf("after rm: %v", err)
			}
		}},
	}
	for _, s := range steps {
		out := ok(t, s.stdin, s.args...)
		s.check(t, out)
	}
}

// Every segment command works on another directory with --dir, and flags
// may come before or after the positional arguments.
func TestDirAndFlagOrder(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "create", "--dir", dir, "--size", "4K", "a")
	ok(t, "", "create", "b", "--size", "4K", "--dir", dir)
	ok(t, "xyz", "write", "--offset", "10", "a", "--dir", dir)
	if out := ok(t, "", "cat", "a", "--length", "3", "--dir", dir, "--offset", "10"); out != "xyz" {
		t.Fatalf("cat = %q", out)
	}
	if out := ok(t, "", "--help"); !strings.Contains(out, "Usage:") {
		t.Fatal("no help")
	}
	var o1, o2 object
	json.Unmarshal([]byte(ok(t, "", "stat", "a", "--json", "--dir", dir)), &o1)
	json.Unmarshal([]byte(ok(t, "", "stat", "--dir", dir, "--json", "a")), &o2)
	if o1.Path != filepath.Join(dir, "a") || fmt.Sprint(o1) != fmt.Sprint(o2) {
		t.Fatalf("stat with flags after/before the name: %+v / %+v", o1, o2)
	}
	ok(t, "", "resize", "a", "--dir", dir, "8K")
	if out := ok(t, "w\n", "edit", "--dir", dir, "c", "--size", "100"); out != "" {
		t.Fatalf("edit creating: %q", out)
	}
	ok(t, "", "dump", "c", "--dir", dir)
	var objs []object
	if err := json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &objs); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s:%d", o.Name, o.Size))
	}
	if strings.Join(got, " ") != "a:8192 b:4096 c:100" {
		t.Fatalf("ls --dir: %v", got)
	}
	ok(t, "", "rm", "--dir", dir, "a", "b", "c")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left in %s: %v", dir, ents)
	}
}

// Failures print exactly one line, "shm: OP NAME: reason", and exit 1.
func TestFailures(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small"), make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		stdin  string
		args   []string
		stderr string
		stdout string
	}{
		{"stat missing", "", []string{"stat", "nope"}, "shm: stat nope: no such file or directory\n", ""},
		{"cat missing", "", []string{"cat", "nope"}, "shm: open nope: no such file or directory\n", ""},
		{"create exists", "", []string{"create", "small", "--size", "4K"}, "shm: create small: file exists\n", ""},
		{"create zero", "", []string{"create", "zero", "--size", "0"}, "shm: create zero: invalid argument: size 0 is not positive\n", ""},
		{"bad name", "", []string{"create", "a/b", "--size", "4K"}, "shm: create a/b: invalid name: contains '/' after the leading slashes\n", ""},
		{"dot dot", "", []string{"stat", ".."}, "shm: stat ..: invalid name: \"..\" names a directory, not an object\n", ""},
		// The library words this one; the command must keep its op, name and one line.
		{"symlink", "", []string{"cat", "link"}, `re:^shm: open link: [^\n]*symbolic link[^\n]*\n$`, ""},
		{"write too much", "0123456789abcdefX", []string{"write", "small"}, "shm: write small: invalid argument: input is more than the 16 bytes from offset 0 to the end of the segment; nothing was written\n", ""},
		{"write too much at offset", "abcdefghi", []string{"write", "small", "--offset", "8"}, "shm: write small: invalid argument: input is more than the 8 bytes from offset 8 to the end of the segment; nothing was written\n", ""},
		{"write beyond", "x", []string{"write", "small", "--offset", "17"}, "shm: write small: invalid argument: offset 17 is beyond the segment's 16 bytes\n", ""},
		{"cat beyond", "", []string{"cat", "small", "--offset", "1K"}, "shm: read small: invalid argument: offset 1024 is beyond the segment's 16 bytes\n", ""},
		{"cat too long", "", []string{"cat", "small", "--offset", "8", "--length", "9"}, "shm: read small: invalid argument: 9 bytes at offset 8 go beyond the segment's 16 bytes\n", ""},
		{"resize zero", "", []string{"resize", "small", "0"}, "shm: resize small: invalid argument: size 0 is not positive\n", ""},
		{"edit word too long", "0123456789abcdef", []string{"edit", "small"}, "shm: edit small: invalid argument: the word on stdin is longer than the 15 bytes the segment holds before its NUL; nothing was stored\n", "before: \n"},
		{"ls no dir", "", []string{"ls", "--dir", filepath.Join(dir, "none")}, "shm: list " + filepath.Join(dir, "none") + ": no such file or directory\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !slices.Contains(args, "--dir") {
				args = append(args, "--dir", dir)
			}
			r := shmRun(t, tc.stdin, args...)
			stderrOK := r.stderr == tc.stderr
			if pattern, isRE := strings.CutPrefix(tc.stderr, "re:"); isRE {
				stderrOK = regexp.MustCompile(pattern).MatchString(r.stderr)
			}
			if r.code != 1 || !stderrOK || r.stdout != tc.stdout {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1, %q, %q", r.code, r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "small")); !bytes.Equal(b, make([]byte, 16)) {
		t.Fatalf("a failed write or edit changed the segment: %q", b)
	}
}

// rm tries every name, reports each failure on its own line, exits 1.
func TestRmTriesEveryName(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "create", "a", "--size", "1", "--dir", dir)
	ok(t, "", "create", "c", "--size", "1", "--dir", dir)
	r := shmRun(t, "", "rm", "--dir", dir, "a", "b", "c", "d/e")
	want := "shm: unlink b: no such file or directory\nshm: unlink d/e: invalid name: contains '/' after the leading slashes\n"
	if r.code != 1 || r.stderr != want {
		t.Fatalf("rm: %+v", r)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("rm left %v", ents)
	}
}

// Usage errors exit 2 with one line on stderr.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"bogus"}, "shm: unknown command \"bogus\"; see 'shm --help'\n"},
		{[]string{"--bogus"}, "shm: unknown flag: --bogus; see 'shm --help'\n"},
		{[]string{"create"}, "shm: create: wants 1 argument (NAME), got 0; see 'shm create --help'\n"},
		{[]string{"create", "a", "b", "--size", "1"}, "shm: create: wants 1 argument (NAME), got 2; see 'shm create --help'\n"},
		{[]string{"create", "a"}, "shm: create: --size is required (such as --size 64K); see 'shm create --help'\n"},
		{[]string{"create", "a", "--size", "1.5M"}, "shm: create: --size: invalid size \"1.5M\": fractions are not accepted; use a smaller unit (1536K, not 1.5M); see 'shm create --help'\n"},
		{[]string{"create", "a", "--size", "-1"}, "shm: create: --size: invalid size \"-1\": a size cannot be negative; see 'shm create --help'\n"},
		{[]string{"create", "a", "--size", "1K", "--mode", "0800"}, "shm: create: --mode: invalid mode \"0800\": want octal permission bits 0 to 0777, such as 0640; see 'shm create --help'\n"},
		{[]string{"create", "a", "--size", "1K", "--mode", "1777"}, "shm: create: --mode: invalid mode \"1777\": want octal permission bits 0 to 0777, such as 0640; see 'shm create --help'\n"},
		{[]string{"rm"}, "shm: rm: wants at least 1 NAME argument, got 0; see 'shm rm --help'\n"},
		{[]string{"ls", "x"}, "shm: ls: takes no arguments, got 1 (\"x\"); see 'shm ls --help'\n"},
		{[]string{"creat", "x"}, "shm: unknown command \"creat\" (did you mean create?); see 'shm --help'\n"},
		{[]string{"stat", "--json=maybe", "a"}, "shm: stat: invalid --json \"maybe\": want true or false; see 'shm stat --help'\n"},
		{[]string{"resize", "a", "lots"}, "shm: resize: invalid size \"lots\": want a whole number of bytes with an optional unit (4096, 64K, 1M, 1GiB); see 'shm resize --help'\n"},
		{[]string{"resize", "a", "99999E"}, "shm: resize: invalid size \"99999E\": more than 9223372036854775807 bytes; see 'shm resize --help'\n"},
		{[]string{"cat", "a", "--offset", "x"}, "shm: cat: --offset: invalid size \"x\": want a whole number of bytes with an optional unit (4096, 64K, 1M, 1GiB); see 'shm cat --help'\n"},
		{[]string{"edit", "a", "--size"}, "shm: edit: flag needs an argument: --size; see 'shm edit --help'\n"},
		{[]string{"demo", "extra"}, "shm: demo: takes no arguments, got 1 (\"extra\"); see 'shm demo --help'\n"},
		{[]string{"demo-peer", "nosuchstep"}, "shm: demo-peer: no demo step \"nosuchstep\"; see 'shm demo-peer --help'\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			r := shmRun(t, "", tc.args...)
			if r.code != 2 || r.stderr != tc.stderr || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q\nwant 2, %q", r.code, r.stdout, r.stderr, tc.stderr)
			}
		})
	}
}

// --help works on every command, exits 0, prints to stdout only.
func TestHelpEverywhere(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		path := strings.Fields(c.CommandPath())[1:]
		r := shmRun(t, "", append(path, "--help")...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("shm %v --help: %+v", path, r)
		}
		n++
	}
	walk(newRootCmd())
	if n < 11 {
		t.Fatalf("only %d commands", n)
	}
}

// exitError carries a command's own status; a *shm.Error prints as
// "OP NAME: reason" even when carried by it.
func TestExitError(t *testing.T) {
	root := newRootCmd()
	root.AddCommand(&cobra.Command{Use: "wait3", RunE: func(*cobra.Command, []string) error {
		return &exitError{code: 3, err: &shm.Error{Op: "sem wait", Name: "jobs", Err: errors.New("timed out")}}
	}})
	root.AddCommand(&cobra.Command{Use: "quiet4", RunE: func(*cobra.Command, []string) error {
		return &exitError{code: 4}
	}})
	var out, errb bytes.Buffer
	if code := execute(root, []string{"wait3"}, nil, &out, &errb); code != 3 || errb.String() != "shm: sem wait jobs: timed out\n" {
		t.Fatalf("wait3: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := execute(root, []string{"quiet4"}, nil, &out, &errb); code != 4 || errb.Len() != 0 {
		t.Fatalf("quiet4: exit %d, %q", code, errb.String())
	}
}

// A kind probe registered by another command group decides KIND and adds
// details to ls and stat.
func TestKindProbe(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "create", "q", "--size", "4K", "--dir", dir)
	ok(t, "", "create", "plain", "--size", "4K", "--dir", dir)
	saved := kindProbes
	t.Cleanup(func() { kindProbes = saved })
	kindProbes = append(kindProbes, func(d string, info shm.Info) (string, map[string]any, bool) {
		if d != dir || info.Name != "q" {
			return "", nil, false
		}
		return "queue", map[string]any{"depth": 3}, true
	})
	if out := ok(t, "", "stat", "q", "--dir", dir); !strings.Contains(out, "kind:     queue\ndepth:    3\n") {
		t.Fatalf("stat:\n%s", out)
	}
	var objs []object
	json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &objs)
	if len(objs) != 2 || objs[0].Kind != "data" || objs[1].Kind != "queue" || objs[1].Details["depth"] != 3.0 {
		t.Fatalf("ls --json: %+v", objs)
	}
}

func TestHexDump(t *testing.T) {
	inputs := map[string][]byte{
		"empty":     {},
		"short":     []byte("hi\n"),
		"one line":  []byte("0123456789abcdef"),
		"binary":    {0, 1, 2, 0x7f, 0x80, 0xff, ' ', '~'},
		"repeats":   append(append(bytes.Repeat([]byte("A"), 64), "tail"...), bytes.Repeat([]byte("A"), 48)...),
		"zeros":     make([]byte, 4096),
		"ends rept": append([]byte("x"), make([]byte, 47)...),
	}
	hexdump, _ := exec.LookPath("hexdump")
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := hexDump(&got, bytes.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			// Without repeated lines it is encoding/hex's Dump plus the size line.
			if !bytes.Contains(got.Bytes(), []byte("*")) && len(in) > 0 {
				if want := hex.Dump(in) + fmt.Sprintf("%08x\n", len(in)); got.String() != want {
					t.Fatalf("got\n%s\nwant\n%s", got.String(), want)
				}
			}
			if hexdump == "" {
				t.Log("hexdump not installed: compared with encoding/hex only")
				return
			}
			cmd := exec.Command(hexdump, "-C")
			cmd.Stdin = bytes.NewReader(in)
			want, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Fatalf("got\n%s\nhexdump -C says\n%s", got.String(), want)
			}
		})
	}
}

func TestReadWord(t *testing.T) {
	tests := []struct {
		in    string
		limit int64
		want  string
		none  bool
	}{
		{"hello", 10, "hello", false},
		{"  \t\n\v\f\rhello world", 10, "hello", false},
		{"hello\nworld", 10, "hello", false},
		{"", 10, "", true},
		{" \n\t ", 10, "", true},
		{"abcdefghijkl", 5, "abcde", false},
		{"é漢字 x", 20, "é漢字", false},
	}
	for _, tc := range tests {
		got, err := readWord(strings.NewReader(tc.in), tc.limit)
		if err != nil || string(got) != tc.want || (got == nil) != tc.none {
			t.Errorf("readWord(%q, %d) = %q, %v", tc.in, tc.limit, got, err)
		}
	}
}

func TestLsPerm(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		{0o600, "-rw-------"},
		{0o640, "-rw-r-----"},
		{0o777 | fs.ModeSymlink, "lrwxrwxrwx"},
		{0o777 | fs.ModeDir | fs.ModeSticky, "drwxrwxrwt"},
		{0o666 | fs.ModeSticky, "-rw-rw-rwT"},
		{0o600 | fs.ModeNamedPipe, "prw-------"},
		{0o755 | fs.ModeSocket, "srwxr-xr-x"},
		{0o660 | fs.ModeDevice | fs.ModeCharDevice, "crw-rw----"},
		{0o660 | fs.ModeDevice, "brw-rw----"},
		{0, "----------"},
	}
	for _, tc := range tests {
		if got := lsPerm(tc.mode); got != tc.want {
			t.Errorf("lsPerm(%v) = %q, want %q", tc.mode, got, tc.want)
		}
	}
}

// Shell completion offers the objects in --dir for NAME.
func TestCompleteNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"jobs", "journal", "other"} {
		ok(t, "", "create", n, "--size", "1", "--dir", dir)
	}
	out := shmRun(t, "", "__complete", "stat", "--dir", dir, "jo").stdout
	if !strings.HasPrefix(out, "jobs\njournal\n:") {
		t.Fatalf("completion of 'shm stat jo':\n%s", out)
	}
	out = shmRun(t, "", "__complete", "rm", "--dir", dir, "jobs", "").stdout
	if !strings.HasPrefix(out, "jobs\njournal\nother\n:") {
		t.Fatalf("completion of a second rm name:\n%s", out)
	}
}

// edit prints the stored string up to its NUL, or size-1 bytes when there
// is none, also across the page-sized reads of a larger segment.
func TestEditBefore(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", make([]byte, 10), ""},
		{"short", []byte("abc\x00def\x00\x00\x00"), "abc"},
		{"no NUL", []byte("0123456789"), "012345678"},
		{"one byte", []byte("x"), ""},
		{"two pages", append(bytes.Repeat([]byte("p"), 5000), 0, 'q'), strings.Repeat("p", 5000)},
		{"two pages no NUL", bytes.Repeat([]byte("r"), 8193), strings.Repeat("r", 8192)},
		{"NUL at page end", append(bytes.Repeat([]byte("s"), 4095), 0, 't', 0), strings.Repeat("s", 4095)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "e"), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if out := ok(t, "", "edit", "e", "--dir", dir); out != "before: "+tc.want+"\n" {
				t.Fatalf("edit printed %q, want before: %q", out, tc.want)
			}
		})
	}
}

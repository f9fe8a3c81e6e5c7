//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// TestBadInputs feeds every entry point inputs it must refuse, and checks the
// exact error: what it matches with errors.Is and how it reads. None may
// panic, and none may leave an object behind.
func TestBadInputs(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs(shm.DefaultDir, &st); err != nil {
		t.Fatal(err)
	}
	// More than the whole of /dev/shm, so more than the space left. tmpfs
	// refuses a fallocate larger than the file system at once, without first
	// allocating (and then giving back) all the memory it has.
	tooBig := int64(st.Blocks)*st.Bsize + 1<<30

	existing := shmtest.Name(t, "")
	ex := create(t, existing, 2*page)
	ro := open(t, existing, shm.ReadOnly())
	closed := create(t, shmtest.Name(t, ""), page)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	missing := shmtest.Name(t, "")
	fresh := shmtest.Name(t, "") // created by no case, checked at the end
	dir := shmtest.Name(t, "")
	if err := os.Mkdir(filepath.Join(shm.DefaultDir, dir), 0o700); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 256)

	type tc struct {
		name string
		call func() error
		is   []error // errors.Is must hold for each
		msg  string  // the exact Error() text
	}
	createErr := func(name string, size int64, opts ...shm.Option) func() error {
		return func() error {
			seg, err := shm.Create(name, size, opts...)
			if seg != nil {
				seg.Close()
			}
			return err
		}
	}
	openErr := func(name string, opts ...shm.Option) func() error {
		return func() error {
			seg, err := shm.Open(name, opts...)
			if seg != nil {
				seg.Close()
			}
			return err
		}
	}
	orCreateErr := func(name string, size int64, opts ...shm.Option) func() error {
		return func() error {
			seg, created, err := shm.OpenOrCreate(name, size, opts...)
			if seg != nil || created {
				seg.Close()
				return fmt.Errorf("OpenOrCreate returned a segment (created %v) with error %v", created, err)
			}
			return err
		}
	}
	empty := "invalid name: empty (a name needs 1 to 255 bytes after its leading slashes)"
	cases := []tc{
		// Names, refused before any syscall.
		{"name empty", createErr("", page), []error{shm.ErrInvalidName}, "shm create '': " + empty},
		{"name slash", createErr("/", page), []error{shm.ErrInvalidName}, "shm create /: " + empty},
		{"name two slashes", openErr("//"), []error{shm.ErrInvalidName}, "shm open //: " + empty},
		{"name 256 bytes", createErr(long, page), []error{shm.ErrInvalidName},
			"shm create " + long + ": invalid name: 256 bytes long, more than 255"},
		{"name 256 bytes after slash", openErr("/" + long), []error{shm.ErrInvalidName},
			"shm open /" + long + ": invalid name: 256 bytes long, more than 255"},
		{"name NUL", createErr("a\x00b", page), []error{shm.ErrInvalidName}, "shm create $'a\\x00b': invalid name: contains a NUL byte"},
		{"name inner slash", createErr("a/b", page), []error{shm.ErrInvalidName},
			"shm create a/b: invalid name: contains '/' after the leading slashes"},
		{"name escapes", orCreateErr("/../etc/passwd", page), []error{shm.ErrInvalidName},
			"shm open /../etc/passwd: invalid name: contains '/' after the leading slashes"},
		{"name dot", openErr("."), []error{shm.ErrInvalidName}, `shm open .: invalid name: "." names a directory, not an object`},
		{"name dotdot", createErr("..", page), []error{shm.ErrInvalidName}, `shm create ..: invalid name: ".." names a directory, not an object`},
		{"name slash dotdot", openErr("/.."), []error{shm.ErrInvalidName}, `shm open /..: invalid name: ".." names a directory, not an object`},
		{"unlink bad name", func() error { return shm.Unlink("a/b") }, []error{shm.ErrInvalidName},
			"shm unlink a/b: invalid name: contains '/' after the leading slashes"},
		{"stat bad name", func() error { _, err := shm.Stat(""); return err }, []error{shm.ErrInvalidName}, "shm stat '': " + empty},

		// Sizes.
		{"size zero", createErr(fresh, 0), []error{shm.ErrInvalid, fs.ErrInvalid},
			"shm create " + fresh + ": invalid argument: size 0 is not positive"},
		{"size negative", createErr(fresh, -1), []error{shm.ErrInvalid},
			"shm create " + fresh + ": invalid argument: size -1 is not positive"},
		{"size negative OpenOrCreate", orCreateErr(fresh, -page), []error{shm.ErrInvalid},
			fmt.Sprintf("shm create %s: invalid argument: size %d is not positive", fresh, -page)},
		{"size beyond space left", createErr(fresh, tooBig), []error{shm.ErrNoSpace, unix.ENOSPC},
			"shm create " + fresh + ": no space left on device"},
		{"resize beyond space left", func() error { return ex.Resize(tooBig) }, []error{shm.ErrNoSpace},
			"shm resize " + existing + ": no space left on device"},
		{"resize zero", func() error { return ex.Resize(0) }, []error{shm.ErrInvalid},
			"shm resize " + existing + ": invalid argument: size 0 is not positive"},

		// Modes.
		{"mode sticky", createErr(fresh, page, shm.Mode(0o1777)), []error{shm.ErrInvalid},
			"shm create " + fresh + ": invalid argument: mode 01777 has bits outside 0777"},
		{"mode setuid", createErr(fresh, page, shm.Mode(fs.ModeSetuid|0o755)), []error{shm.ErrInvalid},
			"shm create " + fresh + ": invalid argument: mode 040000755 has bits outside 0777"},
		{"create read-only", createErr(fresh, page, shm.ReadOnly()), []error{shm.ErrInvalid},
			"shm create " + fresh + ": invalid argument: cannot create an object read-only"},

		// Windows and addresses.
		{"window offset unaligned", openErr(existing, shm.Window(100, 0)), []error{shm.ErrInvalid},
			"shm open " + existing + fmt.Sprintf(": invalid argument: window offset 100 is not a non-negative multiple of the page size %d", page)},
		{"window offset negative", openErr(existing, shm.Window(-page, 0)), []error{shm.ErrInvalid},
			"shm open " + existing + fmt.Sprintf(": invalid argument: window offset %d is not a non-negative multiple of the page size %d", -page, page)},
		{"window length negative", openErr(existing, shm.Window(0, -1)), []error{shm.ErrInvalid},
			"shm open " + existing + ": invalid argument: window length -1 is negative"},
		{"window offset at end", openErr(existing, shm.Window(2*page, 0)), []error{shm.ErrInvalid},
			"shm open " + existing + fmt.Sprintf(": invalid argument: window offset %d is not inside the object's %d bytes", 2*page, 2*page)},
		{"window offset beyond", openErr(existing, shm.Window(4*page, 1)), []error{shm.ErrInvalid},
			"shm open " + existing + fmt.Sprintf(": invalid argument: window offset %d is not inside the object's %d bytes", 4*page, 2*page)},
		{"window length beyond", openErr(existing, shm.Window(page, 2*page)), []error{shm.ErrInvalid},
			"shm open " + existing + fmt.Sprintf(": invalid argument: window of %d bytes at offset %d is beyond the object's %d bytes", 2*page, page, 2*page)},
		{"create with window outside", createErr(fresh, page, shm.Window(page, 0)), []error{shm.ErrInvalid},
			"shm create " + fresh + fmt.Sprintf(": invalid argument: window offset %d is not inside the object's %d bytes", page, page)},
		{"create existing beyond space left", createErr(existing, tooBig), []error{fs.ErrExist},
			"shm create " + existing + ": file exists"},
		{"address hint unaligned", createErr(fresh, page, shm.AddrHint(0x7f0000001001)), []error{shm.ErrInvalid},
			"shm create " + fresh + ": invalid argument: address hint 0x7f0000001001 is not page-aligned"},

		// Reads and writes.
		{"write past the end", func() error { _, err := ex.WriteAt(make([]byte, 10), 2*page-5); return err }, []error{shm.ErrInvalid},
			"shm write " + existing + fmt.Sprintf(": invalid argument: 10 bytes at offset %d do not fit in %d bytes", 2*page-5, 2*page)},
		{"write beyond the end", func() error { _, err := ex.WriteAt([]byte{1}, 1<<62); return err }, []error{shm.ErrInvalid},
			"shm write " + existing + fmt.Sprintf(": invalid argument: 1 bytes at offset %d do not fit in %d bytes", int64(1)<<62, 2*page)},
		{"write negative offset", func() error { _, err := ex.WriteAt([]byte{1}, -1); return err }, []error{shm.ErrInvalid},
			"shm write " + existing + ": invalid argument: negative offset -1"},
		{"read negative offset", func() error { _, err := ex.ReadAt(make([]byte, 1), -8); return err }, []error{shm.ErrInvalid},
			"shm read " + existing + ": invalid argument: negative offset -8"},
		{"write read-only", func() error { _, err := ro.WriteAt([]byte{1}, 0); return err }, []error{shm.ErrReadOnly, fs.ErrPermission},
			"shm write " + existing + ": segment is mapped read-only"},
		{"resize read-only", func() error { return ro.Resize(page) }, []error{shm.ErrReadOnly, fs.ErrPermission},
			"shm resize " + existing + ": segment is mapped read-only"},

		// Existence.
		{"create existing", createErr(existing, page), []error{fs.ErrExist, unix.EEXIST},
			"shm create " + existing + ": file exists"},
		{"create existing with slash", createErr("/"+existing, page), []error{fs.ErrExist},
			"shm create /" + existing + ": file exists"},
		{"open missing", openErr(missing), []error{fs.ErrNotExist, unix.ENOENT},
			"shm open " + missing + ": no such file or directory"},
		{"open missing read-only", openErr(missing, shm.ReadOnly()), []error{fs.ErrNotExist},
			"shm open " + missing + ": no such file or directory"},
		{"OpenOrCreate missing read-only", orCreateErr(missing, page, shm.ReadOnly()), []error{shm.ErrInvalid},
			"shm create " + missing + ": invalid argument: cannot create an object read-only"},
		{"unlink missing", func() error { return shm.Unlink(missing) }, []error{fs.ErrNotExist},
			"shm unlink " + missing + ": no such file or directory"},
		{"stat missing", func() error { _, err := shm.Stat(missing); return err }, []error{fs.ErrNotExist},
			"shm stat " + missing + ": no such file or directory"},
		{"open a directory", openErr(dir), []error{unix.EISDIR},
			"shm open " + dir + ": is a directory"},
		{"open a directory read-only", openErr(dir, shm.ReadOnly()), []error{shm.ErrInvalid},
			"shm open " + dir + ": invalid argument: " + filepath.Join(shm.DefaultDir, dir) + " is not a regular file"},
		{"list missing dir", func() error { _, err := shm.List(shm.Dir("/nonexistent/shm")); return err }, []error{fs.ErrNotExist},
			"shm list /nonexistent/shm: no such file or directory"},

		// After Close.
		{"read after close", func() error { _, err := closed.ReadAt(make([]byte, 1), 0); return err }, []error{shm.ErrClosed},
			"shm read " + closed.Name() + ": handle is closed"},
		{"write after close", func() error { _, err := closed.WriteAt([]byte{1}, 0); return err }, []error{shm.ErrClosed},
			"shm write " + closed.Name() + ": handle is closed"},
		{"resize after close", func() error { return closed.Resize(2 * page) }, []error{shm.ErrClosed},
			"shm resize " + closed.Name() + ": handle is closed"},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				err = c.call()
			}()
			if err == nil {
				t.Fatalf("no error; want %q", c.msg)
			}
			if got := err.Error(); got != c.msg {
				t.Errorf("error text\n got %q\nwant %q", got, c.msg)
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			var e *shm.Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not a *shm.Error", err)
			}
		})
	}

	// Nothing was created by any case, and the segments refused above are as
	// they were.
	mustNotExist(t, fresh)
	mustNotExist(t, missing)
	if ex.Size() != 2*page {
		t.Errorf("after the refused resizes the segment has %d bytes, want %d", ex.Size(), 2*page)
	}
	if info, err := shm.Stat(existing); err != nil || info.Size != 2*page {
		t.Errorf("Stat after the refused resizes = %v, %v; want %d bytes", info, err, 2*page)
	}
	// Close twice is fine.
	if err := closed.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := closed.Size(); n != 0 {
		t.Errorf("Size after Close = %d, want 0", n)
	}
	if b := closed.Bytes(); b != nil {
		t.Errorf("Bytes after Close has %d bytes, want nil", len(b))
	}
	if fd := closed.Fd(); fd != -1 {
		t.Errorf("Fd after Close = %d, want -1", fd)
	}
}

// TestReadAtEOF checks the io.ReaderAt contract at the end of the mapping.
func TestReadAtEOF(t *testing.T) {
	seg := create(t, shmtest.Name(t, ""), 100)
	writeString(t, seg, 96, "abcd")
	buf := make([]byte, 8)
	n, err := seg.ReadAt(buf, 96)
	if n != 4 || err != io.EOF || string(buf[:n]) != "abcd" {
		t.Errorf("ReadAt across the end = %d, %v, %q; want 4, EOF, \"abcd\"", n, err, buf[:n])
	}
	n, err = seg.ReadAt(buf, 100)
	if n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
	}
	n, err = seg.ReadAt(buf[:4], 96)
	if n != 4 || err != nil {
		t.Errorf("ReadAt up to the end = %d, %v; want 4, nil", n, err)
	}
	// A write that does not fit writes nothing.
	if _, err := seg.WriteAt([]byte("XXXXXXXX"), 96); err == nil {
		t.Error("WriteAt across the end succeeded")
	}
	if got := readString(t, seg, 96, 4); got != "abcd" {
		t.Errorf("after a refused write the tail is %q, want \"abcd\"", got)
	}
}

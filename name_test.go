//go:build linux

package shm_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/shmkit/shm"
)

// FuzzCleanName checks that every name CleanName accepts is one object
// inside the directory, and that it refuses only with ErrInvalidName.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"", "/", "jobs", "/jobs", "//jobs/", "a/b", ".", "..", "/..", "...", "a\x00", "sem.x", strings.Repeat("y", 256), "/" + strings.Repeat("y", 255)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean, err := shm.CleanName(name)
		if err != nil {
			if !errors.Is(err, shm.ErrInvalidName) || clean != "" {
				t.Fatalf("CleanName(%q) = %q, %v", name, clean, err)
			}
			if _, perr := shm.Path("/dev/shm", name); perr == nil {
				t.Fatalf("Path accepts %q, which CleanName refuses", name)
			}
			return
		}
		if len(clean) < 1 || len(clean) > shm.MaxNameLen || strings.ContainsAny(clean, "/\x00") || clean == "." || clean == ".." {
			t.Fatalf("CleanName(%q) = %q, which breaks a rule", name, clean)
		}
		if strings.TrimLeft(name, "/") != clean {
			t.Fatalf("CleanName(%q) = %q, not the name without its slashes", name, clean)
		}
		p, err := shm.Path("/dev/shm", name)
		if err != nil || filepath.Dir(p) != "/dev/shm" || filepath.Base(p) != clean {
			t.Fatalf("Path(%q) = %q, %v; want /dev/shm/%s", name, p, err, clean)
		}
		// The default directory is /dev/shm.
		if d, _ := shm.Path("", name); d != p {
			t.Fatalf("Path(\"\", %q) = %q, want %q", name, d, p)
		}
	})
}

// TestQuoteName checks the forms QuoteName gives, and that bash reads each
// quoted form back as the very bytes of the name.
func TestQuoteName(t *testing.T) {
	long := strings.Repeat("n", shm.MaxNameLen)
	for _, c := range []struct{ name, want string }{
		{"jobs", "jobs"},
		{"sem.jobs", "sem.jobs"},
		{"a-b_c.d,e=f%g+h@i:j", "a-b_c.d,e=f%g+h@i:j"},
		{"café", "café"},
		{"x#y~", "x#y~"},
		{long, long},
		{"my jobs", "'my jobs'"},
		{"it's", `'it'\''s'`},
		{"#x", "'#x'"},
		{"~x", "'~x'"},
		{"a*b", "'a*b'"},
		{"$HOME", "'$HOME'"},
		{"a\\b", `'a\b'`},
		{"\x1b]0;PWNED\a", `$'\e]0;PWNED\a'`},
		{"\x1b[31mred", `$'\e[31mred'`},
		{"row\nforged", `$'row\nforged'`},
		{"tab\there", `$'tab\there'`},
		{"\xff", `$'\xff'`},
		{"caf\xe9", `$'caf\xe9'`},
		{"it's\n", `$'it\'s\n'`},
		{"back\\slash\x01", `$'back\\slash\x01'`},
		{"del\x7f", `$'del\x7f'`},
		{"rtl\u202eexe.txt", `$'rtl\u202eexe.txt'`},
		{"nbsp\u00a0x", `$'nbsp\u00a0x'`},
		{"c1\u0085", `$'c1\u0085'`},
		{"\uFFFD", "\uFFFD"},
	} {
		if got := shm.QuoteName(c.name); got != c.want {
			t.Errorf("QuoteName(%q) = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestQuoteNameShellRoundTrip has bash read quoted names back: each must
// give the original bytes.
func TestQuoteNameShellRoundTrip(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to read the quoted names back")
	}
	names := []string{"jobs", "my jobs", "it's", "#x", "a*b;c", "\x1b]0;PWNED\a", "row\nforged", "\xff\xfe", "caf\xe9", "it's\n\\", "rtl\u202e", "nbsp\u00a0", "\x01\x02\x1f\x7f", "π≈3", "\U0001F600\U000E0001"}
	for _, name := range names {
		out, err := exec.Command(bash, "-c", "printf %s "+shm.QuoteName(name)).Output()
		if err != nil {
			t.Errorf("bash on %s: %v", shm.QuoteName(name), err)
			continue
		}
		if string(out) != name {
			t.Errorf("bash reads %s back as %q, want %q", shm.QuoteName(name), out, name)
		}
	}
}

// FuzzQuoteName checks that a quoted name never holds a byte that could act
// on a terminal or a table: no control character, no invalid UTF-8, no 0xFF.
func FuzzQuoteName(f *testing.F) {
	for _, s := range []string{"", "jobs", "a b", "\x1b[31m", "\n", "\xff", "\xe9", "\u202e", "'\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := shm.QuoteName(name)
		if !utf8.ValidString(q) {
			t.Fatalf("QuoteName(%q) = %q, not valid UTF-8", name, q)
		}
		for _, r := range q {
			if !unicode.IsPrint(r) {
				t.Fatalf("QuoteName(%q) = %q holds %U", name, q, r)
			}
		}
		if nameQuotedPlain(name) != (q == name) {
			t.Fatalf("QuoteName(%q) = %q: a plain name must come back unchanged, any other quoted", name, q)
		}
	})
}

// nameQuotedPlain is the test's own idea of a name that needs no quotes.
func nameQuotedPlain(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name[:1], "#~") {
		return false
	}
	for _, r := range name {
		if r == ' ' || !unicode.IsPrint(r) || strings.ContainsRune("!\"$&'()*;<>?[\\]^`{|}", r) {
			return false
		}
	}
	return true
}

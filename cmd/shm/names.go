package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shmkit/shm"
)

// Names and other text from the shared-memory directory are untrusted:
// anyone can create a file there, with any bytes in its name. What the
// command prints for a terminal goes through shm.QuoteName (names: of
// objects, paths, and the commands of processes, which each process
// chooses) or printable (free text that may quote a name or a path, such
// as an error's or a classification's reason), so that no control
// character, invalid UTF-8 or 0xFF reaches the output, and a name looks
// the same wherever it appears. --json prints names as they are, with name_base64 when they are
// not UTF-8 (see object).

// maxNameColumn is the widest a name gets in a table, in characters: one
// long name (up to 255 bytes, more once quoted) would otherwise widen the
// NAME column of every row. stat and --json show the whole name.
const maxNameColumn = 48

// columnName is name quoted for a table, cut to maxNameColumn characters
// with "…" at the end when it is longer.
func columnName(name string) string {
	q := shm.QuoteName(name)
	if utf8.RuneCountInString(q) <= maxNameColumn {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if n == maxNameColumn-1 {
			break
		}
		b.WriteRune(r)
		n++
	}
	b.WriteString("…")
	return b.String()
}

// printable returns s with every character that could act on a terminal or
// a table escaped: control characters, characters that do not print, and
// bytes that are not UTF-8 become \xHH or \uHHHH. Printable text, spaces
// included, stays as it is.
func printable(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x80 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r) && r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isPrintable(s string) bool {
	for i, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return false
		}
	}
	return true
}

// objectName takes an object's path as well as its name: "/dev/shm/jobs",
// which stat prints as the path, names "jobs" when the directory in use is
// /dev/shm (dir "" means the default). Anything else comes back as it is,
// for the library to check as a name.
func objectName(dir, arg string) string {
	if dir == "" {
		dir = shm.DefaultDir
	}
	rest, ok := strings.CutPrefix(arg, filepath.Clean(dir)+"/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return arg
	}
	return rest
}

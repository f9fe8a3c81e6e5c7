package shm

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest name, in bytes after leading slashes are
// stripped, that shm_open accepts: a file name on Linux is at most 255 bytes.
const MaxNameLen = 255

// DefaultDir is where POSIX shared memory lives on Linux, and where glibc's
// shm_open and Python's multiprocessing.shared_memory put their objects.
const DefaultDir = "/dev/shm"

// CleanName returns name as glibc's shm_open understands it, without its
// leading slashes ("/jobs" and "jobs" both give "jobs"), or an error wrapping
// ErrInvalidName that says which rule the name breaks. Unlike glibc, it
// refuses "." and "..", which would name the directory or its parent.
func CleanName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty (a name needs 1 to %d bytes after its leading slashes)", ErrInvalidName, MaxNameLen)
	case len(n) > MaxNameLen:
		return "", fmt.Errorf("%w: %d bytes long, more than %d", ErrInvalidName, len(n), MaxNameLen)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("%w: contains a NUL byte", ErrInvalidName)
	case strings.IndexByte(n, '/') >= 0:
		return "", fmt.Errorf("%w: contains '/' after the leading slashes", ErrInvalidName)
	case n == "." || n == "..":
		return "", fmt.Errorf("%w: %q names a directory, not an object", ErrInvalidName, n)
	}
	return n, nil
}

// Path returns the file that holds the named object in dir ("" means
// DefaultDir), or an error if the name is invalid.
func Path(dir, name string) (string, error) {
	n, err := CleanName(name)
	if err != nil {
		return "", err
	}
	if dir == "" {
		dir = DefaultDir
	}
	return filepath.Join(dir, n), nil
}

// QuoteName returns name in a form that is safe to print on a terminal or
// in a line a script reads, the way GNU ls quotes file names. Anyone may
// create files in the shared-memory directory, so a name may hold escape
// sequences that retitle or recolour a terminal, a newline that forges a
// line of output, bytes that are not UTF-8, or byte 0xFF, which
// text/tabwriter takes as its escape character.
//
// A plain name (printable characters, none of them white space or special
// to a POSIX shell) comes back unchanged. A name with white space or shell
// characters comes back in single quotes ('my jobs', with ' written as
// '\”). A name with a control character, a character that does not print
// (such as a bidirectional override), or bytes that are not UTF-8 comes back
// in the shell's ANSI-C quotes, $'...', with \n, \t, \e and the like, \xHH
// for a byte and \uHHHH for a character: $'\e]0;x\a' or $'caf\xe9'. Either
// quoted form pasted into bash, zsh or ksh names the same bytes again. The
// result never holds a control character, invalid UTF-8 or byte 0xFF.
func QuoteName(name string) string {
	switch nameQuoting(name) {
	case quoteNone:
		return name
	case quoteSingle:
		return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, name[i])
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x80 && cEscapes[r] != 0:
			b.WriteByte('\\')
			b.WriteByte(cEscapes[r])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	b.WriteByte('\'')
	return b.String()
}

// cEscapes are the one-letter escapes of $'...' for control characters.
var cEscapes = [0x80]byte{'\a': 'a', '\b': 'b', '\t': 't', '\n': 'n', '\v': 'v', '\f': 'f', '\r': 'r', 0x1b: 'e'}

type quoting int

const (
	quoteNone   quoting = iota // print as it is
	quoteSingle                // '...': white space or shell characters
	quoteANSI                  // $'...': control, unprintable or invalid bytes
)

// nameQuoting tells which form QuoteName gives name. Shell characters are
// those GNU ls quotes; '#' and '~' only start a comment or a home directory
// at the start of a word.
func nameQuoting(name string) quoting {
	if name == "" {
		return quoteSingle
	}
	q := quoteNone
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			return quoteANSI // an invalid byte, not U+FFFD itself
		case r == ' ':
			q = quoteSingle
		case !unicode.IsPrint(r):
			return quoteANSI
		case strings.ContainsRune("!\"$&'()*;<>?[\\]^`{|}", r):
			q = quoteSingle
		case i == 0 && (r == '#' || r == '~'):
			q = quoteSingle
		}
	}
	return q
}

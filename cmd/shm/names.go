package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shmkit/shm"
	"golang.org/x/text/width"
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

// maxNameColumn is the widest a name gets in a table, in terminal columns:
// one long name (up to 255 bytes, more once quoted) would otherwise widen
// the NAME column of every row. stat and --json show the whole name.
const maxNameColumn = 48

// columnName is name quoted for a table, cut to maxNameColumn terminal
// columns with "…" at the end when it is wider. A quoted name is cut
// between whole characters or escapes and its quotes closed after the
// "…" ($'aaa…'), so that the cut name still reads as quoted text.
func columnName(name string) string {
	q := shm.QuoteName(name)
	if displayWidth(q) <= maxNameColumn {
		return q
	}
	open, body, end := "", q, ""
	switch {
	case strings.HasPrefix(q, "$'"):
		open, body, end = "$'", q[2:len(q)-1], "'"
	case strings.HasPrefix(q, "'"):
		open, body, end = "'", q[1:len(q)-1], "'"
	}
	room := maxNameColumn - displayWidth(open+"…"+end)
	var b strings.Builder
	b.WriteString(open)
	for body != "" {
		n := quotedUnit(body, open)
		w := displayWidth(body[:n])
		if w > room {
			break
		}
		room -= w
		b.WriteString(body[:n])
		body = body[n:]
	}
	b.WriteString("…" + end)
	return b.String()
}

// quotedUnit returns the length of the first unit of s, the inside of a
// name quoted as open says (shm.QuoteName's "$'", "'" or none): an escape
// such as \xff or \u202e, the four bytes that stand for a single quote
// inside single quotes, or a character.
func quotedUnit(s, open string) int {
	switch {
	case open == "$'" && s[0] == '\\' && len(s) > 1:
		switch s[1] {
		case 'x':
			return min(4, len(s))
		case 'u':
			return min(6, len(s))
		case 'U':
			return min(10, len(s))
		}
		return 2
	case open == "'" && strings.HasPrefix(s, `'\''`):
		return 4
	}
	_, n := utf8.DecodeRuneInString(s)
	return n
}

// displayWidth is how many terminal columns s takes: two for each East
// Asian wide or fullwidth character (CJK, most emoji), none for a
// combining mark, one for the rest. Text is assumed printable (quoted or
// passed through printable first).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is displayWidth for one character.
func runeWidth(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	case r < 0x1100:
		return 1
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// writeColumns prints rows as a table whose columns are aligned by
// display width (text/tabwriter counts characters, so a wide one would
// shift the rest of its row), gap spaces apart; the last column is not
// padded.
func writeColumns(w io.Writer, rows [][]string, gap int) error {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.WriteString(alignRow(row, widths, gap))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// alignRow joins a row's cells, padding each but the last to its column's
// width (widths, in display columns) and gap spaces.
func alignRow(row []string, widths []int, gap int) string {
	var b strings.Builder
	for i, cell := range row {
		b.WriteString(cell)
		if i < len(row)-1 {
			b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+gap))
		}
	}
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

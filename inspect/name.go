package inspect

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// quoteName returns name as it is when it is plain printable text, and
// quoted with Go escapes (strconv.Quote) when it holds control characters,
// invalid UTF-8, spaces or quotes: names come from the directory, which
// anyone may write to.
func quoteName(name string) string {
	if name == "" || !utf8.ValidString(name) {
		return strconv.Quote(name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || r == ' ' || r == '"' || r == '\\' {
			return strconv.Quote(name)
		}
	}
	return name
}

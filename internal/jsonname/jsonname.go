// Package jsonname carries object names in JSON output without losing
// any. A name in a shared-memory directory is any bytes but '/' and NUL,
// and JSON strings are UTF-8: encoding/json writes each byte of a name
// that is not UTF-8 as U+FFFD, which names nothing. Every JSON output
// that carries a name adds name_base64, the name's exact bytes, when the
// name is not UTF-8, so a script can always get back to the object.
package jsonname

import (
	"encoding/base64"
	"unicode/utf8"
)

// Field is a name as JSON output carries it: embedded in a struct, it
// gives the struct's "name" and, when the name is not UTF-8, its
// "name_base64".
type Field struct {
	Name       string `json:"name"`
	NameBase64 string `json:"name_base64,omitempty"` // the name's bytes, when they are not UTF-8
}

// Of returns the Field for name.
func Of(name string) Field { return Field{Name: name, NameBase64: Base64(name)} }

// Base64 returns name's bytes in standard base64 when name is not valid
// UTF-8, and "" when it is (JSON then carries it exactly as it is).
func Base64(name string) string {
	if utf8.ValidString(name) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(name))
}

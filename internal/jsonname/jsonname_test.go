package jsonname

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestField: a UTF-8 name travels as it is, with no name_base64; any other
// comes back exactly from its name_base64.
func TestField(t *testing.T) {
	for _, name := range []string{"jobs", "café", "日本", "bad\xff", "\xc3", "x\xed\xa0\x80y"} {
		b, err := json.Marshal(struct{ Field }{Of(name)})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Name       string  `json:"name"`
			NameBase64 *string `json:"name_base64"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		switch {
		case got.NameBase64 == nil && got.Name != name:
			t.Errorf("%q: %s carries no name_base64 and a name that differs", name, b)
		case got.NameBase64 != nil && utf8.ValidString(name):
			t.Errorf("%q is UTF-8 but carries name_base64: %s", name, b)
		case got.NameBase64 != nil:
			raw, err := base64.StdEncoding.DecodeString(*got.NameBase64)
			if err != nil || string(raw) != name {
				t.Errorf("%q: %s: name_base64 decodes to %q, %v", name, b, raw, err)
			}
		}
	}
}

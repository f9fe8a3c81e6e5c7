package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostileNames are file names anyone can create in /dev/shm that would act
// on a terminal, forge a row of a table, or break text/tabwriter if printed
// as they are.
var hostileNames = []string{
	"\x1b]0;PWNED\a",                 // retitles an xterm
	"\x1b[31mred\x1b[0m",             // recolours
	"row\nforged 4.0K data",          // a newline forges a table row
	"tab\xffbreak",                   // tabwriter's escape character
	"caf\xe9",                        // Latin-1, not UTF-8
	"\xfe\xff",                       // nothing but invalid bytes
	"with space",                     // needs quotes to paste back
	"rtl\u202egpj.exe",               // a bidirectional override
	"bell\a\b\x7f",                   // more control characters
	strings.Repeat("y", 255),         // the longest name
	"sem.\x1b[2Jcleared",             // looks like a semaphore
	"\x1b[1mq\tueue\r",               // a carriage return rewrites the line
	strings.Repeat("\xff", 200),      // invalid all along, quoted to 800 characters
	"ok-" + strings.Repeat("é", 100), // valid but long
}

// checkSafeOutput fails the test if out holds a byte that could act on a
// terminal or a table: any control character but newline, invalid UTF-8,
// or a character that does not print.
func checkSafeOutput(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: output is not valid UTF-8: %q", what, out)
	}
	for _, r := range out {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("%s: output holds %U: %q", what, r, out)
			return
		}
	}
}

// TestHostileNames runs every command that prints names against a private
// directory holding names built to attack a terminal or a script: no raw
// control byte reaches the output, every table row is one object, one long
// name does not widen the table beyond bounds, and --json gives back each
// name's exact bytes.
func TestHostileNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range hostileNames {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, 4096), 0o600); err != nil {
			t.Fatalf("creating %q: %v", name, err)
		}
	}
	queueName, semName := "\x1b[7mq\n", "\x1b]52;c;cHduZWQ=\a" // a queue; a semaphore that writes the clipboard
	ok(t, "", "queue", "create", queueName, "--capacity", "64K", "--dir", dir)
	ok(t, "", "sem", "create", semName, "--dir", dir)
	all := append(slices.Clone(hostileNames), queueName, "sem."+semName)

	// ls: one row per object, and a header no wider than a row allows.
	r := shmRun(t, "", "ls", "--dir", dir)
	checkSafeOutput(t, "ls", r.stdout+r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != len(all)+1 {
		t.Fatalf("ls: exit %d, %d lines for %d objects:\n%s", r.code, len(lines), len(all), r.stdout)
	}
	if w := utf8.RuneCountInString(lines[0]); w > maxNameColumn+90 {
		t.Errorf("ls header is %d characters wide: %q", w, lines[0])
	}
	for _, want := range []string{"queue", "semaphore"} {
		if !strings.Contains(r.stdout, " "+want+" ") {
			t.Errorf("ls shows no %s:\n%s", want, r.stdout)
		}
	}

	// The lifecycle commands list every object too.
	for _, args := range [][]string{
		{"clean", "--idle", "--older-than", "0s"},
		{"top", "--once"},
		{"doctor"},
	} {
		r := shmRun(t, "", append(args, "--dir", dir)...)
		checkSafeOutput(t, strings.Join(args, " "), r.stdout+r.stderr)
	}

	// ls --json: every name comes back byte for byte.
	r = shmRun(t, "", "ls", "--dir", dir, "--json")
	checkSafeOutput(t, "ls --json", r.stdout+r.stderr)
	var objs []object
	if err := json.Unmarshal([]byte(r.stdout), &objs); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	var got []string
	for _, o := range objs {
		got = append(got, jsonName(t, o))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(all))
	if !slices.Equal(got, want) {
		t.Errorf("ls --json names:\n got %q\nwant %q", got, want)
	}

	for _, name := range all {
		// stat and stat --json show the whole name, quoted or exact.
		r := shmRun(t, "", "stat", name, "--dir", dir)
		checkSafeOutput(t, "stat "+name, r.stdout+r.stderr)
		shown, _, _ := strings.Cut(columnName(name), "…")
		if r.code != 0 || !strings.Contains(r.stdout, shown) {
			t.Errorf("stat %q: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
		r = shmRun(t, "", "stat", name, "--dir", dir, "--json")
		checkSafeOutput(t, "stat --json "+name, r.stdout+r.stderr)
		var o object
		if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || jsonName(t, o) != name {
			t.Errorf("stat --json %q: %v\n%s", name, err, r.stdout)
		}
		// Commands that fail on the object name it in their error line.
		for _, args := range [][]string{
			{"create", name, "--size", "4K"},
			{"edit", name + "-missing", "--size", "0"},
			{"cat", name, "--offset", "1M"},
			{"dump", name + "-missing"},
			{"write", name, "--offset", "1M"},
			{"resize", name + "-missing", "4K"},
			{"rm", name + "-missing"},
			{"queue", "stat", name + "-missing"},
			{"queue", "recv", name + "-missing"},
			{"queue", "send", name + "-missing", "x"},
			{"sem", "value", name + "-missing"},
			{"sem", "post", name + "-missing"},
			{"sem", "rm", name + "-missing"},
		} {
			r := shmRun(t, "", append(args, "--dir", dir)...)
			checkSafeOutput(t, strings.Join(args, " "), r.stdout+r.stderr)
			if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "shm: ") {
				t.Errorf("shm %q: exit %d, stderr %q; want one line and exit 1", args, r.code, r.stderr)
			}
		}
	}
	r = shmRun(t, "", "queue", "stat", queueName, "--dir", dir)
	checkSafeOutput(t, "queue stat", r.stdout+r.stderr)
	if r.code != 0 {
		t.Errorf("queue stat: exit %d, %s", r.code, r.stderr)
	}

	// rm takes the raw names and removes every one.
	ok(t, "", append([]string{"rm", "--dir", dir}, all...)...)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("after rm, %d objects are left", len(left))
	}
}

// jsonName is the name an object of --json stands for: its name_base64
// when it has one, or else its name.
func jsonName(t *testing.T, o object) string {
	t.Helper()
	if o.NameBase64 == "" {
		if !utf8.ValidString(o.Name) || strings.ContainsRune(o.Name, utf8.RuneError) {
			t.Errorf("name %q without name_base64", o.Name)
		}
		return o.Name
	}
	b, err := base64.StdEncoding.DecodeString(o.NameBase64)
	if err != nil {
		t.Errorf("name_base64 %q: %v", o.NameBase64, err)
	}
	return string(b)
}

// TestColumnName checks that a table's names are quoted and cut to
// maxNameColumn characters.
func TestColumnName(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"jobs", "jobs"},
		{"a\nb", `$'a\nb'`},
		{strings.Repeat("y", maxNameColumn), strings.Repeat("y", maxNameColumn)},
		{strings.Repeat("y", maxNameColumn+1), strings.Repeat("y", maxNameColumn-1) + "…"},
		// Cut between whole escapes, inside the quotes, which stay closed.
		{strings.Repeat("\xff", 20), `$'` + strings.Repeat(`\xff`, 11) + `…'`},
		{strings.Repeat("a", 60) + "\n", `$'` + strings.Repeat("a", 44) + `…'`},
		{"a" + strings.Repeat("\u202e", 20), `$'a` + strings.Repeat(`\u202e`, 7) + `…'`},
		{strings.Repeat("a b", 30), `'` + strings.Repeat("a b", 15) + `…'`},
		{strings.Repeat("it's ", 12), `'` + strings.Repeat(`it'\''s `, 5) + `it…'`},
		// Wide characters take two columns each.
		{strings.Repeat("日", 24), strings.Repeat("日", 24)},
		{strings.Repeat("日", 30), strings.Repeat("日", 23) + "…"},
	} {
		got := columnName(c.name)
		if got != c.want {
			t.Errorf("columnName(%q) = %q, want %q", c.name, got, c.want)
		}
		if w := displayWidth(got); w > maxNameColumn {
			t.Errorf("columnName(%q) = %q is %d columns wide", c.name, got, w)
		}
	}
}

// TestLsAlignsWideNames: ls's columns line up, counted in terminal columns,
// when names hold wide (CJK) characters: each column starts at the same
// display column in every row.
func TestLsAlignsWideNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plain", "日本語の名前", "mixed日本"} {
		ok(t, "", "create", name, "--size", "4K", "--dir", dir)
	}
	lines := strings.Split(strings.TrimSuffix(ok(t, "", "ls", "--dir", dir), "\n"), "\n")
	// Where SIZE starts, in display columns: just after the padding
	// that follows the name.
	sizeAt := func(line string) int {
		name, _, _ := strings.Cut(line, "  ")
		rest := strings.TrimLeft(line[len(name):], " ")
		return displayWidth(line[:len(line)-len(rest)])
	}
	want := sizeAt(lines[0])
	for _, l := range lines[1:] {
		if got := sizeAt(l); got != want {
			t.Errorf("the row %q has SIZE at column %d, the header at %d:\n%s", l, got, want, strings.Join(lines, "\n"))
		}
	}
}

// TestPrintable checks the escaping of free text such as an error's reason.
func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"no such file or directory", "no such file or directory"},
		{"a\x1b[31mb", `a\x1b[31mb`},
		{"tab\there", `tab\x09here`},
		{"caf\xe9 \xff", `caf\xe9 \xff`},
		{"rtl\u202e", `rtl\u202e`},
		{"\uFFFD is fine", "\uFFFD is fine"},
	} {
		if got := printable(c.in); got != c.want {
			t.Errorf("printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSemValueJSONIsSafe: sem value --json escapes a name's characters
// that do not print (a right-to-left override here), as every --json does.
func TestSemValueJSONIsSafe(t *testing.T) {
	dir := t.TempDir()
	name := "s\u202eevil"
	ok(t, "", "sem", "create", name, "--dir", dir)
	out := ok(t, "", "sem", "value", name, "--json", "--dir", dir)
	checkSafeOutput(t, "sem value --json", out)
	if !strings.Contains(out, `"s\u202eevil"`) {
		t.Errorf("sem value --json does not escape U+202E:\n%s", out)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The README is the project's face: these tests keep what it shows true.

const repoRoot = "../.."

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fenced returns the body of the first ``` block with the given info string
// after the text marker.
func fenced(t *testing.T, doc, after, info string) string {
	t.Helper()
	i := strings.Index(doc, after)
	if i < 0 {
		t.Fatalf("README has no %q", after)
	}
	open := "```" + info + "\n"
	j := strings.Index(doc[i:], open)
	if j < 0 {
		t.Fatalf("README has no ```%s block after %q", info, after)
	}
	body := doc[i+j+len(open):]
	k := strings.Index(body, "```")
	if k < 0 {
		t.Fatalf("unterminated block after %q", after)
	}
	return body[:k]
}

// The set-up section has exactly two commands, the demo and the tests
// (this module's, then the bridge module's), and CI runs those same tests.
func TestReadmeSetup(t *testing.T) {
	got := fenced(t, readme(t), "## Set up", "sh")
	want := "go run ./cmd/shm demo\ngo test ./... && (cd bridge && go test ./...)\n"
	if got != want {
		t.Fatalf("set-up commands:\n%s\nwant:\n%s", got, want)
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{`go test \./\.\.\.`, `\(cd bridge && go test \./\.\.\.\)`} {
		if !regexp.MustCompile(`(?m)^` + cmd + `$`).Match(ci) {
			t.Fatalf(".ci/run does not run the README's test command %s:\n%s", cmd, ci)
		}
	}
}

// The quick starts compile against this module and print what the README
// says they print (on names of their own, so parallel runs do not collide),
// and leave nothing behind.
func TestReadmeQuickStart(t *testing.T) {
	for _, tc := range []struct{ section, name string }{
		{"## Library quick start", "quickstart"},
		{"## Synchronization quick start", "syncstart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := readme(t)
			i := strings.Index(doc, tc.section)
			if i < 0 {
				t.Fatalf("README has no %q", tc.section)
			}
			doc = doc[i:]
			src := fenced(t, doc, tc.section, "go")
			want := fenced(t, doc, "It prints:", "")
			name := shmtest.Name(t, "")
			src = strings.ReplaceAll(src, tc.name, name)
			want = strings.ReplaceAll(want, tc.name, name)
			if out := runReadmeProgram(t, src); out != want {
				t.Fatalf("the quick start printed %q; the README says %q", out, want)
			}
			for _, file := range []string{name, shm.SemaphorePrefix + name} {
				if _, err := os.Stat(filepath.Join(shm.DefaultDir, file)); !os.IsNotExist(err) {
					t.Fatalf("the quick start left %s behind: %v", file, err)
				}
			}
		})
	}
}

// runReadmeProgram runs the Go program src against this module and returns
// its output.
func runReadmeProgram(t *testing.T, src string) string {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module readme\n\ngo 1.26.0\n\nrequire github.com/shmkit/shm v0.0.0\n\nreplace github.com/shmkit/shm => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(src)} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run of the README's quick start: %v\n%s", err, out)
	}
	return string(out)
}

// Every command a user can see is in the README's command reference.
func TestReadmeListsEveryCommand(t *testing.T) {
	ref := fenced(t, readme(t), "## The `shm` command", "")
	for _, c := range newRootCmd().Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !regexp.MustCompile(`(?m)^shm ` + regexp.QuoteMeta(c.Name()) + `\b`).MatchString(ref) {
			t.Errorf("README's command reference does not show %q", "shm "+c.Name())
		}
	}
}

// Every flag of every visible command is mentioned in the README.
func TestReadmeMentionsEveryFlag(t *testing.T) {
	doc := readme(t)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(doc, "--"+f.Name) {
				t.Errorf("README does not mention %s's flag --%s", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

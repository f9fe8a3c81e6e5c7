//go:build linux

package interop

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// console returns the commands and outputs of the first ```console block
// after heading in the README: each "$ " line and the lines after it.
func console(t *testing.T, heading string) (cmds, outs []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q", heading)
	}
	j := strings.Index(doc[i:], "```console\n")
	if j < 0 {
		t.Fatalf("README has no console block after %q", heading)
	}
	body := doc[i+j+len("```console\n"):]
	body = body[:strings.Index(body, "```")]
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if c, ok := strings.CutPrefix(line, "$ "); ok {
			cmds, outs = append(cmds, c), append(outs, "")
		} else if len(cmds) > 0 {
			outs[len(outs)-1] += line + "\n"
		}
	}
	return cmds, outs
}

// readmeTree copies what the README's commands use (c/ and python/, the
// sources only) into a temporary directory, so that what they build stays
// out of the repository, and puts the shm command on PATH.
func readmeTree(t *testing.T) (dir string, env []string) {
	t.Helper()
	root := repoDir(t)
	dir = t.TempDir()
	for _, sub := range []string{"c", "python"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				if d.Name() == "build" || d.Name() == "__pycache__" {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dir, rel), 0o755)
			}
			if ext := filepath.Ext(p); ext != ".c" && ext != ".h" && ext != ".py" && d.Name() != "Makefile" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "shm"), filepath.Join(root, "cmd", "shm")).CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/shm: %v\n%s", err, out)
	}
	return dir, append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1")
}

// runConsole runs a README console block's commands in dir with sh, on a
// queue name of this test's own, and compares what each prints.
func runConsole(t *testing.T, heading string) {
	cmds, outs := console(t, heading)
	dir, env := readmeTree(t)
	name := shmtest.Name(t, "")
	for i, c := range cmds {
		c = strings.ReplaceAll(c, "jobs", name)
		cmd := exec.Command("sh", "-c", c)
		cmd.Dir, cmd.Env = dir, env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("README %s: %q: %v\n%s", heading, c, err, stderr.String())
		}
		if want := strings.ReplaceAll(outs[i], "jobs", name); string(out) != want {
			t.Fatalf("README %s: %q printed %q; the README says %q", heading, c, out, want)
		}
	}
}

// The README's "From C" commands run as shown (they need make, which the
// rest of these tests do without: skipped when it is missing).
func TestReadmeFromC(t *testing.T) {
	shmtest.SkipShort(t)
	shmtest.Need(t, "gcc")
	if _, err := exec.LookPath("make"); err != nil {
		t.Skipf("skipping: the README's C section runs make, which is not installed (%v); the other tests build the C code with gcc alone", err)
	}
	runConsole(t, "## From C")
}

// The README's "From Python" commands run as shown, building libshmq on
// first use.
func TestReadmeFromPython(t *testing.T) {
	shmtest.SkipShort(t)
	shmtest.Need(t, "gcc")
	shmtest.Need(t, "python3")
	runConsole(t, "## From Python")
}

package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// The command works on Python's multiprocessing.shared_memory objects, and
// Python sees what the command wrote.
func TestPythonPeer(t *testing.T) {
	python := shmtest.Need(t, "python3")
	name := shmtest.Name(t, "")
	py := func(script string) string {
		t.Helper()
		out, err := exec.Command(python, "-c", script, name).CombinedOutput()
		if err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		return string(out)
	}
	// Python 3.11's resource tracker would unlink the object when this
	// interpreter exits: take it off the tracker's list (3.13 has track=False).
	py(`import sys
from multiprocessing import shared_memory, resource_tracker
m = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=10000)
m.buf[:11] = b"from python"
resource_tracker.unregister(m._name, "shared_memory")
m.close()`)

	var o object
	if err := json.Unmarshal([]byte(ok(t, "", "stat", name, "--json")), &o); err != nil {
		t.Fatal(err)
	}
	if o.Size != 10000 || o.Kind != "data" {
		t.Fatalf("stat of Python's object: %+v", o)
	}
	if got := ok(t, "", "cat", name, "--length", "11"); got != "from python" {
		t.Fatalf("cat = %q", got)
	}
	ok(t, "from shm", "write", name, "--offset", "100")
	got := py(`import sys
from multiprocessing import shared_memory
m = shared_memory.SharedMemory(name=sys.argv[1])
print(bytes(m.buf[100:108]).decode(), len(m.buf) >= 10000)
m.close()
m.unlink()`)
	if strings.TrimSpace(got) != "from shm True" {
		t.Fatalf("Python read %q", got)
	}
	if r := shmRun(t, "", "stat", name); r.code != 1 {
		t.Fatalf("after Python's unlink: %+v", r)
	}
}

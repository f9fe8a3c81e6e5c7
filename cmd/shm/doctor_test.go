package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestDoctor: against a small tmpfs mounted for the test, "shm doctor
// --dir" reports its size and free space, in text and in JSON.
func TestDoctor(t *testing.T) {
	dir := shmtest.Tmpfs(t, "2m")
	ok(t, "", "create", "half", "--size", "1M", "--dir", dir)
	var findings []struct {
		Check    string         `json:"check"`
		Severity string         `json:"severity"`
		Message  string         `json:"message"`
		Remedy   string         `json:"remedy"`
		Value    map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "doctor", "--json", "--dir", dir)), &findings); err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{}
	for _, f := range findings {
		checks[f.Check] = true
		if f.Severity != "ok" && f.Remedy == "" {
			t.Errorf("finding without a remedy: %+v", f)
		}
		if f.Check == "size" && (f.Value["size"] != float64(2<<20) || f.Value["free"] != float64(1<<20)) {
			t.Errorf("size finding on a 2 MiB tmpfs holding 1 MiB: %+v", f)
		}
	}
	for _, c := range []string{"tmpfs", "size", "removeipc", "o_tmpfile", "membarrier", "memfd_create", "huge_pages", "open_files", "memlock", "stale"} {
		if !checks[c] {
			t.Errorf("no %s finding in %+v", c, findings)
		}
	}
	text := ok(t, "", "doctor", "--dir", dir)
	if !strings.Contains(text, dir+" holds 2.0 MiB, 1.0 MiB free") {
		t.Errorf("shm doctor:\n%s", text)
	}
}

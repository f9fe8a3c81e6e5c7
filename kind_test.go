//go:build linux

package shm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shmkit/shm"
)

// TestKindByMagic: Stat and List tell the module's kinds by the magic in
// an object's first 8 bytes, whatever its name, and only regular files
// of at least 8 readable bytes that hold it exactly.
func TestKindByMagic(t *testing.T) {
	dir := t.TempDir()
	magic := shm.Magic(shm.KindQueue)
	if magic != "SHMQUEUE" {
		t.Fatalf("Magic(KindQueue) = %q", magic)
	}
	for _, tc := range []struct {
		name     string
		contents string
		kind     shm.Kind
	}{
		{"queue", magic + "rest of a header", shm.KindQueue},
		{"exact", magic, shm.KindQueue},
		{"short", magic[:7], shm.KindData},
		{"near", "SHMQUEUF and more", shm.KindData},
		{"late", "x" + magic, shm.KindData},
		{"empty", "", shm.KindData},
		{"sem.q", magic + "....", shm.KindSemaphore}, // the name says semaphore first
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.contents), 0o600); err != nil {
			t.Fatal(err)
		}
		info, err := shm.Stat(tc.name, shm.Dir(dir))
		if err != nil || info.Kind != tc.kind {
			t.Errorf("Stat(%s) kind = %q, %v; want %q", tc.name, info.Kind, err, tc.kind)
		}
	}
	// A link to a queue is not followed.
	if err := os.Symlink(filepath.Join(dir, "queue"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	infos, err := shm.List(shm.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]shm.Kind{}
	for _, i := range infos {
		kinds[i.Name] = i.Kind
	}
	if kinds["queue"] != shm.KindQueue || kinds["link"] != shm.KindOther || kinds["short"] != shm.KindData {
		t.Errorf("List kinds = %v", kinds)
	}
	if shm.Magic(shm.KindData) != "" {
		t.Errorf("Magic(KindData) = %q, want none", shm.Magic(shm.KindData))
	}
}

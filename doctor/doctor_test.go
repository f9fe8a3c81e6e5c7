//go:build linux

package doctor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmkit/shm/doctor"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

func find(t *testing.T, fs []doctor.Finding, check string) doctor.Finding {
	t.Helper()
	for _, f := range fs {
		if f.Check == check {
			return f
		}
	}
	t.Fatalf("no %q finding among %v", check, fs)
	return doctor.Finding{}
}

// TestSizeAndFree: on a small tmpfs mounted for the test, doctor reports
// its size and its free space, which shrinks as an object takes room; a
// tmpfs of a container's default 64 MiB gets a warning.
func TestSizeAndFree(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	f := find(t, doctor.Run(&doctor.Options{Dir: dir}), "size")
	if f.Value["size"] != int64(1<<20) || f.Value["free"] != int64(1<<20) || f.Severity != doctor.OK {
		t.Errorf("empty 1 MiB tmpfs: %+v", f)
	}
	if tm := find(t, doctor.Run(&doctor.Options{Dir: dir}), "tmpfs"); tm.Severity != doctor.OK {
		t.Errorf("tmpfs check on a tmpfs: %+v", tm)
	}
	// 960 KiB of data leaves less than a tenth free.
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 960<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	f = find(t, doctor.Run(&doctor.Options{Dir: dir}), "size")
	if f.Value["free"] != int64(64<<10) || f.Severity != doctor.Warning || f.Remedy == "" {
		t.Errorf("nearly full 1 MiB tmpfs: %+v", f)
	}

	f = find(t, doctor.Run(&doctor.Options{Dir: shmtest.Tmpfs(t, "64m")}), "size")
	if f.Severity != doctor.Warning || f.Value["size"] != int64(doctor.ContainerDefault) || f.Remedy == "" {
		t.Errorf("64 MiB tmpfs: %+v", f)
	}

	// The module's own source tree is on a disk (or an overlay), not a tmpfs.
	wd, _ := os.Getwd()
	var st unix.Statfs_t
	if err := unix.Statfs(wd, &st); err == nil && st.Type != unix.TMPFS_MAGIC {
		if tm := find(t, doctor.Run(&doctor.Options{Dir: wd}), "tmpfs"); tm.Severity != doctor.Problem || tm.Remedy == "" {
			t.Errorf("%s, not a tmpfs: %+v", wd, tm)
		}
	}
}

// TestRemoveIPC reads logind's configuration as systemd does: the main
// file, then drop-ins by name, later settings winning; unset means yes.
func TestRemoveIPC(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		want   doctor.Severity
		logind bool
	}{
		{name: "no logind", want: doctor.OK},
		{name: "default yes", logind: true, want: doctor.Warning},
		{name: "main file no", logind: true, files: map[string]string{"etc/systemd/logind.conf": "[Login]\nRemoveIPC=no\n"}, want: doctor.OK},
		{name: "commented out", logind: true, files: map[string]string{"etc/systemd/logind.conf": "[Login]\n#RemoveIPC=no\n"}, want: doctor.Warning},
		{name: "other section", logind: true, files: map[string]string{"etc/systemd/logind.conf": "[Other]\nRemoveIPC=no\n"}, want: doctor.Warning},
		{name: "drop-in overrides", logind: true, files: map[string]string{
			"etc/systemd/logind.conf":            "[Login]\nRemoveIPC=yes\n",
			"etc/systemd/logind.conf.d/shm.conf": "[Login]\nRemoveIPC=no\n",
		}, want: doctor.OK},
		{name: "later drop-in wins", logind: true, files: map[string]string{
			"etc/systemd/logind.conf.d/10-a.conf":   "[Login]\nRemoveIPC=no\n",
			"usr/lib/systemd/logind.conf.d/20.conf": "[Login]\nRemoveIPC=yes\n",
		}, want: doctor.Warning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{}
			if tc.logind {
				files["usr/lib/systemd/systemd-logind"] = ""
			}
			for p, content := range tc.files {
				files[p] = content
			}
			for p, content := range files {
				full := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f := find(t, doctor.Run(&doctor.Options{Root: root, Dir: t.TempDir()}), "removeipc")
			if f.Severity != tc.want || (f.Severity != doctor.OK) != (f.Remedy != "") {
				t.Errorf("%+v; want %s", f, tc.want)
			}
		})
	}
}

// ExampleRun checks a machine and prints what each check found.
func ExampleRun() {
	for _, f := range doctor.Run(nil) {
		if f.Check == "tmpfs" {
			fmt.Println(f.Check, f.Severity)
		}
	}
	// Output: tmpfs ok
}

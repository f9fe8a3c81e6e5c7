//go:build linux

package proc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	id, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if int(id.PID) != os.Getpid() || id.Start == 0 {
		t.Fatalf("Self() = %+v, pid %d", id, os.Getpid())
	}
	if !Alive(id) {
		t.Fatalf("Alive(Self()) = false")
	}
}

func TestAlive(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   Identity
		bits uint
		want bool
	}{
		{"self", self, 64, true},
		{"self masked", self, 38, true},
		{"self masked, high bits differ", Identity{self.PID, self.Start | 1<<40}, 38, true},
		{"wrong start", Identity{self.PID, self.Start + 1}, 64, false},
		{"wrong start masked", Identity{self.PID, self.Start + 1}, 38, false},
		{"high bits differ unmasked", Identity{self.PID, self.Start | 1<<40}, 64, false},
		{"pid 0", Identity{0, self.Start}, 64, false},
		{"negative pid", Identity{-5, 1}, 64, false},
		{"pid beyond pid_max", Identity{1 << 30, 1}, 64, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AliveMasked(tc.id, tc.bits); got != tc.want {
				t.Errorf("AliveMasked(%+v, %d) = %v, want %v", tc.id, tc.bits, got, tc.want)
			}
		})
	}
}

// TestDeadChild kills a real child and checks that it is dead both as a
// zombie (not yet reaped) and after it was reaped.
func TestDeadChild(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	id, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(id) {
		t.Fatal("running child is not alive")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: a zombie, which must count as dead.
	deadline := time.Now().Add(5 * time.Second)
	for Alive(id) {
		if time.Now().After(deadline) {
			t.Fatal("killed child (zombie) still alive after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Wait()
	if Alive(id) {
		t.Fatal("reaped child is alive")
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    stat
		wantErr bool
	}{
		{"plain", "42 (sleep) S 1 42 42 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 12345 8192 100", stat{'S', 12345}, false},
		{"comm with spaces and parens", "42 (a) b) (c) Z 1 42 42 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 777 8192 100", stat{'Z', 777}, false},
		{"no paren", "42 sleep S 1", stat{}, true},
		{"too short", "42 (x) S 1 2 3", stat{}, true},
		{"bad start", "42 (x) S 1 42 42 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 zz 8192 100", stat{}, true},
		{"long state", "42 (x) SS 1 42 42 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 5 8192 100", stat{}, true},
		{"empty", "", stat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

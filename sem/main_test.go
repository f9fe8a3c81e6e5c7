//go:build linux

package sem

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// Multi-process tests re-execute this test binary in a role of runChild
// (see shmtest.Role).
func TestMain(m *testing.M) {
	shmtest.RunChild()
	code := m.Run()
	if peerDir != "" {
		os.RemoveAll(peerDir)
	}
	os.Exit(code)
}

// child returns the command that starts this test binary again in the
// given role with args (see childParams); once started, it is killed and
// reaped when the test ends.
func child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	params, ok := childParams[role]
	if !ok || len(args) != len(params) {
		t.Fatalf("role %s takes the arguments %v, got %q", role, params, args)
	}
	a := shmtest.Args{}
	for i, p := range params {
		a[p] = args[i]
	}
	cmd := shmtest.Command(t, role, a)
	cmd.Stderr = os.Stderr
	return cmd
}

// The C peer (testdata/peer.c) is built once per run of the test binary,
// into peerDir, which TestMain removes at the end.
var peerDir, peerBin string

func cPeer(t testing.TB) string {
	t.Helper()
	if peerBin != "" {
		return peerBin
	}
	src, err := os.ReadFile("testdata/peer.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := shmtest.BuildC(t, string(src), "-pthread")
	if peerDir, err = os.MkdirTemp("", "semtest"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(peerDir+"/peer", b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	peerBin = peerDir + "/peer"
	return peerBin
}

// run runs the C peer and returns its output, failing the test if it
// fails.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(cPeer(t), args...).Output()
	if err != nil {
		t.Fatalf("peer %v: %v (output %q)", args, err, out)
	}
	return string(out)
}

// start starts cmd and kills and reaps it when the test ends.
func start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

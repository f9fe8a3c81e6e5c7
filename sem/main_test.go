//go:build linux

package sem

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// childEnv selects the role of a re-executed test binary; see TestMain.
const childEnv = "SEM_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := runChild(role, os.Args[len(os.Args)-childArgs(role):]); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if peerDir != "" {
		os.RemoveAll(peerDir)
	}
	os.Exit(code)
}

// child starts this test binary again in the given role with args, and
// kills and reaps it when the test ends.
func child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	if len(args) != childArgs(role) {
		t.Fatalf("role %s takes %d arguments, got %d", role, childArgs(role), len(args))
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"="+role)
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

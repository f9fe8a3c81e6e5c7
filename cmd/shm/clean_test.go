package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/shmkit/shm/internal/shmtest"
)

// startPiped starts the real shm binary with args and returns it with its
// standard output and input; it is killed when the test ends.
func startPiped(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(buildShm(t), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewReader(stdout), stdin
}

// lsRow is what the lifecycle test reads of "ls --json".
type lsRow struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Attached *int   `json:"attached"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
}

func lsJSON(t *testing.T, dir string) map[string]lsRow {
	t.Helper()
	var rows []lsRow
	if err := json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &rows); err != nil {
		t.Fatal(err)
	}
	m := map[string]lsRow{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

// TestLifecycleCommands: ls and stat show who is attached and the state;
// a queue whose consumer and producer were killed is stale and "clean
// --force" removes it; an idle data segment is kept; an object this
// process maps is kept even with --idle --older-than 0s. It runs in a PID
// namespace of its own, where every process can be inspected.
func TestLifecycleCommands(t *testing.T) {
	shmtest.SkipShort(t)
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	dir := shmtest.Tmpfs(t, "4m")
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	ok(t, "", "create", "plain", "--size", "4K", "--dir", dir)
	ok(t, "", "create", "held", "--size", "4K", "--dir", dir)
	seg, err := shm.Open("held", shm.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()

	consumer, consumerOut, _ := startPiped(t, "queue", "recv", "q", "--follow", "--dir", dir)
	producer, _, producerIn := startPiped(t, "queue", "send", "q", "--dir", dir)
	if _, err := producerIn.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := consumerOut.ReadString('\n'); strings.TrimSpace(line) != "one" {
		t.Fatalf("consumer read %q, %v", line, err)
	}

	rows := lsJSON(t, dir)
	if r := rows["q"]; r.Kind != "queue" || r.Attached == nil || *r.Attached != 2 || r.State != "in-use" {
		t.Errorf("ls --json q with a live consumer and producer: %+v", r)
	}
	if r := rows["plain"]; r.Attached == nil || *r.Attached != 0 || r.State != "idle" {
		t.Errorf("ls --json plain: %+v", r)
	}
	if table := ok(t, "", "ls", "--dir", dir); !strings.Contains(table, "ATTACHED") || !regexp.MustCompile(`(?m)^q .* queue +2 +in-use `).MatchString(table) {
		t.Errorf("ls table:\n%s", table)
	}
	var st struct {
		Attached []shm.Process `json:"attached"`
		State    string        `json:"state"`
		Reason   string        `json:"reason"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "stat", "q", "--json", "--dir", dir)), &st); err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for _, p := range st.Attached {
		if p.Mapped > 0 && p.FD {
			pids[p.PID] = true
		}
	}
	if !pids[consumer.Process.Pid] || !pids[producer.Process.Pid] || st.State != "in-use" || st.Reason == "" {
		t.Errorf("stat --json q: %+v; want pids %d and %d mapping it", st, consumer.Process.Pid, producer.Process.Pid)
	}
	if out := ok(t, "", "stat", "q", "--dir", dir); !strings.Contains(out, "state:") || strings.Count(out, "\nattached:") != 2 {
		t.Errorf("stat q:\n%s", out)
	}

	for _, c := range []*exec.Cmd{consumer, producer} {
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
	}
	if r := lsJSON(t, dir)["q"]; r.State != "stale" || r.Attached == nil || *r.Attached != 0 {
		t.Errorf("ls --json q after SIGKILL of both: %+v; want stale", r)
	}

	dry := ok(t, "", "clean", "--dir", dir)
	for _, want := range []string{"would remove q (queue): stale", "kept plain (data): idle", "kept held (data): in-use"} {
		if !strings.Contains(dry, want) {
			t.Errorf("clean (dry run) lacks %q:\n%s", want, dry)
		}
	}
	if _, err := shm.Stat("q", shm.Dir(dir)); err != nil {
		t.Fatalf("the dry run removed q: %v", err)
	}
	out := ok(t, "", "clean", "--force", "--dir", dir)
	if !strings.Contains(out, "removed q (queue): stale") || !strings.Contains(out, "kept plain (data): idle") {
		t.Errorf("clean --force:\n%s", out)
	}
	if _, err := shm.Stat("q", shm.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after clean --force: q %v", err)
	}
	out = ok(t, "", "clean", "--force", "--idle", "--older-than", "0s", "--dir", dir)
	if !strings.Contains(out, "removed plain (data): idle") || !strings.Contains(out, "kept held (data): in-use") {
		t.Errorf("clean --force --idle --older-than 0s:\n%s", out)
	}
	if _, err := shm.Stat("held", shm.Dir(dir)); err != nil {
		t.Errorf("the mapped object is gone: %v", err)
	}
}

// TestCleanUsage: flag combinations clean refuses.
func TestCleanUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"clean", "--idle"}, "--idle needs --older-than"},
		{[]string{"clean", "--kind", "tape"}, `--kind "tape"`},
		{[]string{"clean", "--older-than", "-1s"}, "want a duration of 0 or more"},
	}
	for _, tc := range tests {
		r := shmRun(t, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("shm %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestJSONNamesNotUTF8: every --json output that carries an object's name
// carries one that is not UTF-8 (0xff in it) exactly, in name_base64:
// clean, queue stat, topic stat, sem value, and doctor's list of stale
// objects (value.names_base64 beside value.names). It runs in a PID
// namespace of its own, where a queue whose consumer was killed is stale.
func TestJSONNamesNotUTF8(t *testing.T) {
	shmtest.SkipShort(t)
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	dir := shmtest.Tmpfs(t, "4m")
	qName, tName, sName := "q\xff", "t\xff", "s\xff"
	ok(t, "", "queue", "create", qName, "--capacity", "4K", "--dir", dir)
	ok(t, "", "topic", "create", tName, "--capacity", "4K", "--dir", dir)
	ok(t, "", "sem", "create", sName, "--dir", dir)
	consumer, consumerOut, _ := startPiped(t, "queue", "recv", qName, "--follow", "--dir", dir)
	ok(t, "", "queue", "send", qName, "--keep-open", "one", "--dir", dir)
	if line, err := consumerOut.ReadString('\n'); line != "one\n" {
		t.Fatalf("consumer read %q, %v", line, err)
	}
	consumer.Process.Signal(syscall.SIGKILL)
	consumer.Wait()

	// exact decodes one JSON name field: name_base64 when there is one.
	exact := func(what string, f jsonname.Field) string {
		t.Helper()
		if f.NameBase64 == "" {
			if strings.ContainsRune(f.Name, utf8.RuneError) {
				t.Errorf("%s: name %q without name_base64", what, f.Name)
			}
			return f.Name
		}
		b, err := base64.StdEncoding.DecodeString(f.NameBase64)
		if err != nil {
			t.Errorf("%s: name_base64 %q: %v", what, f.NameBase64, err)
		}
		return string(b)
	}

	var outcomes []jsonname.Field
	if err := json.Unmarshal([]byte(ok(t, "", "clean", "--json", "--dir", dir)), &outcomes); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range outcomes {
		got[exact("clean --json", o)] = true
	}
	for _, name := range []string{qName, tName, shm.SemaphorePrefix + sName} {
		if !got[name] {
			t.Errorf("clean --json: no outcome for %q among %v", name, outcomes)
		}
	}
	for _, args := range [][]string{{"queue", "stat", qName}, {"topic", "stat", tName}, {"sem", "value", sName}} {
		var f jsonname.Field
		if err := json.Unmarshal([]byte(ok(t, "", append(args, "--json", "--dir", dir)...)), &f); err != nil {
			t.Fatal(err)
		}
		if name := exact(args[0]+" "+args[1]+" --json", f); name != args[2] {
			t.Errorf("%s %s --json: name %q, want %q", args[0], args[1], name, args[2])
		}
	}

	var findings []struct {
		Check string `json:"check"`
		Value struct {
			Names       []string `json:"names"`
			NamesBase64 []string `json:"names_base64"`
		} `json:"value"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "doctor", "--json", "--dir", dir)), &findings); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range findings {
		if f.Check != "stale" {
			continue
		}
		v := f.Value
		if len(v.Names) != 1 || len(v.NamesBase64) != 1 {
			t.Fatalf("doctor --json stale: %+v; want the queue in names and names_base64; ls:\n%s", v, ok(t, "", "ls", "--dir", dir))
		}
		found = exact("doctor --json", jsonname.Field{Name: v.Names[0], NameBase64: v.NamesBase64[0]}) == qName
	}
	if !found {
		t.Errorf("doctor --json: the stale queue %q is not named exactly: %+v", qName, findings)
	}
}

// TestStatQuotesCommandsOneWay: a process whose command holds an escape
// sequence (its executable's name) is shown the same way, as shm.QuoteName
// quotes names, on stat's state line and on its attached line, and no raw
// control byte reaches the output.
func TestStatQuotesCommandsOneWay(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	dir := shmtest.Tmpfs(t, "4m")
	ok(t, "", "create", "held", "--size", "4K", "--dir", dir)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1) to run under another name")
	}
	comm := "z\x1b]0;x\a\xff"
	bin := filepath.Join(t.TempDir(), comm)
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sh", "-c", `exec 3<"$OBJ"; exec "$BIN" 60`)
	holder.Env = append(os.Environ(), "OBJ="+filepath.Join(dir, "held"), "BIN="+bin)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	want := fmt.Sprintf("pid %d (%s", holder.Process.Pid, shm.QuoteName(comm))
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// Until the shell has exec'd, the holder's command is sh.
		if out = ok(t, "", "stat", "held", "--dir", dir); strings.Count(out, want) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.ContainsAny(out, "\x1b\a") {
		t.Errorf("stat printed a raw control byte:\n%q", out)
	}
	for _, line := range []string{"state:", "attached:"} {
		i := strings.Index(out, "\n"+line)
		if i < 0 || !strings.Contains(strings.SplitN(out[i+1:], "\n", 2)[0], want) {
			t.Errorf("stat's %s line does not show %q:\n%s", line, want, out)
		}
	}
	// --json gives the command's exact bytes, which are not UTF-8.
	var st struct {
		Attached []struct {
			PID           int    `json:"pid"`
			CommandBase64 string `json:"command_base64"`
		} `json:"attached"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "stat", "held", "--json", "--dir", dir)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Attached) != 1 {
		t.Fatalf("stat --json: attached %+v, want the holder", st.Attached)
	}
	if b, err := base64.StdEncoding.DecodeString(st.Attached[0].CommandBase64); err != nil || string(b) != comm {
		t.Errorf("stat --json: command_base64 %q decodes to %q, %v; want %q", st.Attached[0].CommandBase64, b, err, comm)
	}
}

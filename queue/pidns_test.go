//go:build linux

package queue

// Peers in other PID namespaces, as containers that share /dev/shm are: the
// child is started with CLONE_NEWPID (spawnIn), where it is pid 1 and its
// pids mean nothing to this process. Liveness comes from the roles' locks
// (see "Roles" in layout.go), so everything must work as between two
// processes of one namespace.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// wantPeer checks how Stat shows a role: claimed, alive, and in another
// PID namespace or not.
func wantPeer(t *testing.T, what string, p *Peer, other bool) {
	t.Helper()
	switch {
	case p == nil:
		t.Fatalf("stat shows no %s", what)
	case !p.Alive || p.LivenessUnknown:
		t.Fatalf("stat shows the %s as %s, want alive", what, p)
	case p.OtherNamespace != other:
		t.Fatalf("stat shows the %s as %s; in another PID namespace: %v, want %v", what, p, p.OtherNamespace, other)
	}
}

// readLine reads the child's next line, failing after d.
func readLine(t *testing.T, k *childProc, d time.Duration) string {
	t.Helper()
	line, ok := k.Next(d)
	if !ok {
		t.Fatalf("the child said nothing for %v; output:\n%s", d, k.Output())
	}
	return line
}

// TestNamespaceIntegrity moves a million checked messages between a
// producer and a consumer in different PID namespaces, each way: nothing
// lost, duplicated, reordered or torn, and Stat shows both alive, the
// child in another PID namespace.
func TestNamespaceIntegrity(t *testing.T) {
	shmtest.SkipShort(t)
	needNewNS(t)
	count := millionCount
	if raceEnabled {
		count /= 5
	}
	t.Run("producer in another PID namespace", func(t *testing.T) {
		ctx := ctxT(t)
		name, _, c := pair(t, 1<<16)
		k := spawnIn(t, true, "produce-wait", name, 1, count)
		k.ready(t)
		if err := c.claimConsumer(); err != nil {
			t.Fatal(err)
		}
		st, err := Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		wantPeer(t, "consumer", st.Consumer, false)
		if len(st.Producers) != 1 {
			t.Fatalf("stat shows %d producers, want 1", len(st.Producers))
		}
		wantPeer(t, "producer", &st.Producers[0], true)
		if _, err := io.WriteString(k.Stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		if _, n := drain(t, ctx, c, nil); n != count {
			t.Fatalf("EOF after %d messages, want %d", n, count)
		}
		if err := k.wait(); err != nil {
			t.Fatalf("producer: %v", err)
		}
	})
	t.Run("consumer in another PID namespace", func(t *testing.T) {
		ctx := ctxT(t)
		name, p, _ := pair(t, 1<<16)
		k := spawnIn(t, true, "consume", name, 0, 0)
		k.ready(t)
		if err := p.claimProducer(); err != nil {
			t.Fatal(err)
		}
		st, err := Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		wantPeer(t, "consumer", st.Consumer, true)
		if len(st.Producers) != 1 {
			t.Fatalf("stat shows %d producers, want 1", len(st.Producers))
		}
		wantPeer(t, "producer", &st.Producers[0], false)
		g := newGen(1, p.MaxMessage())
		for i := range count {
			if err := p.Send(ctx, g.next()); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := readLine(t, k, 20*time.Second), fmt.Sprint("got ", count); got != want {
			t.Fatalf("the consumer said %q, want %q", got, want)
		}
		if err := k.wait(); err != nil {
			t.Fatalf("consumer: %v", err)
		}
	})
}

// TestNamespaceConsumerTakeover: while a consumer in another PID namespace
// lives, a second consumer (in this namespace, or in a third) is refused
// with ErrBusy; once the first is SIGKILLed, the second takes over within
// one second and receives every committed message.
func TestNamespaceConsumerTakeover(t *testing.T) {
	needNewNS(t)
	const count = 30
	for _, where := range []string{"here", "in a third PID namespace"} {
		t.Run(where, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, 1<<16)
			first := spawnIn(t, true, "consumer-hang", name, 1, 0)
			first.ready(t)
			g := newGen(1, p.MaxMessage())
			for range count {
				if err := p.Send(ctx, g.next()); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			var second *childProc
			if where == "here" {
				_, err := c.TryReceive(nil)
				if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "in another PID namespace") {
					t.Fatalf("a second consumer while the first lives: %v, want ErrBusy naming a consumer in another PID namespace", err)
				}
			} else {
				second = spawnIn(t, true, "consume", name, 0, 0)
				if line := readLine(t, second, 10*time.Second); !strings.HasPrefix(line, "busy:") {
					t.Fatalf("the second consumer said %q, want busy: it must be refused while the first lives", line)
				}
			}
			st, err := Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			wantPeer(t, "first consumer", st.Consumer, true)

			first.kill()
			killed := time.Now()
			if second == nil {
				chk := &checker{next: map[uint32]uint64{}}
				for {
					m, err := c.TryReceive(nil)
					if errors.Is(err, ErrBusy) {
						if time.Since(killed) > 2*time.Second {
							t.Fatalf("still refused %v after the first consumer died: %v", time.Since(killed), err)
						}
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := chk.check(m); err != nil {
						t.Fatal(err)
					}
					break
				}
				took := time.Since(killed)
				for {
					m, err := c.Receive(ctx, nil)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := chk.check(m); err != nil {
						t.Fatal(err)
					}
				}
				if chk.next[1] != count {
					t.Fatalf("the new consumer got %d messages, want %d", chk.next[1], count)
				}
				if took > time.Second {
					t.Fatalf("taking over took %v, want under a second", took)
				}
				t.Logf("took over %v after the kill", took)
				return
			}
			if line := readLine(t, second, 5*time.Second); line != "ready" {
				t.Fatalf("the second consumer said %q, want ready", line)
			}
			took := time.Since(killed)
			if got, want := readLine(t, second, 10*time.Second), fmt.Sprint("got ", count); got != want {
				t.Fatalf("the new consumer said %q, want %q", got, want)
			}
			if took > time.Second {
				t.Fatalf("taking over took %v, want under a second", took)
			}
			t.Logf("took over %v after the kill", took)
		})
	}
}

// TestPeerString: how Stat's peers read for people.
func TestPeerString(t *testing.T) {
	for _, tc := range []struct {
		p    Peer
		want string
	}{
		{Peer{PID: 12, Alive: true}, "pid 12 (alive)"},
		{Peer{PID: 12}, "pid 12 (dead)"},
		{Peer{PID: 1, Alive: true, OtherNamespace: true}, "pid 1 (alive, in another PID namespace)"},
		{Peer{PID: 1, OtherNamespace: true}, "pid 1 (dead, in another PID namespace)"},
		{Peer{PID: 7, Alive: true, NamespaceUnknown: true}, "pid 7 (alive, PID namespace unknown)"},
		{Peer{PID: 7, LivenessUnknown: true}, "pid 7 (liveness unknown)"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

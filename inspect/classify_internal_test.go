package inspect

import (
	"strings"
	"testing"

	"github.com/shmkit/shm/sem"
)

// TestClassifyUnseenUsers: a scan of /proc sees only its own PID
// namespace. A semaphore with recorded waiters and nobody attached is not
// idle, and nothing says its waiters died; a data segment or semaphore
// that looks unattached from a child PID namespace says the claim holds
// only as far as that namespace shows.
func TestClassifyUnseenUsers(t *testing.T) {
	tests := []struct {
		name      string
		obj       Object
		state     State
		want, not string
	}{
		{"semaphore with 1 waiter", Object{Kind: KindSemaphore, Semaphore: &sem.State{Waiters: 1}}, Unknown, "but 1 waiter recorded", "died"},
		{"semaphore with 3 waiters", Object{Kind: KindSemaphore, Semaphore: &sem.State{Waiters: 3, Value: 2}}, Unknown, "but 3 waiters recorded", "died"},
		{"semaphore without waiters", Object{Kind: KindSemaphore, Semaphore: &sem.State{Value: 2}}, Idle, "nobody attached", "namespace"},
		{"data", Object{Kind: KindData}, Idle, "nobody attached", "namespace"},
		{"data from a child namespace", Object{Kind: KindData, childPIDNamespace: true}, Idle, "as far as this PID namespace shows", ""},
		{"semaphore from a child namespace", Object{Kind: KindSemaphore, Semaphore: &sem.State{}, childPIDNamespace: true}, Idle, "as far as this PID namespace shows", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.obj
			o.AttachedKnown = true
			state, reason := classify(&o)
			if state != tt.state || !strings.Contains(reason, tt.want) || tt.not != "" && strings.Contains(reason, tt.not) {
				t.Errorf("%s (%s); want %s, saying %q and not %q", state, reason, tt.state, tt.want, tt.not)
			}
		})
	}
}

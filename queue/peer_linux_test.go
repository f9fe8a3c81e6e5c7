package queue

import "testing"

// TestPeerHere checks which peers a spinning wait takes to be goroutines
// of this process, and so yields to every time: the other role's holder
// as its claim word names it, here or in a child process.
func TestPeerHere(t *testing.T) {
	tests := []struct {
		name      string
		childRole string // "" for no child: both roles in this process
		want      bool
	}{
		{"both roles here", "", true},
		{"consumer in another process", "consumer-hang", false},
		{"producer in another process", "producer-hang", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, 1<<16)
			var q *Queue
			switch tc.childRole {
			case "":
				if err := p.Send(ctx, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Receive(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if !c.peerHere() {
					t.Error("the consumer does not see its producer here")
				}
				q = p
			case "consumer-hang":
				k := spawn(t, tc.childRole, name, 0, 0)
				k.ready(t)
				t.Cleanup(k.kill)
				if err := p.Send(ctx, []byte("x")); err != nil {
					t.Fatal(err)
				}
				q = p
			case "producer-hang":
				k := spawn(t, tc.childRole, name, 0, 0)
				k.ready(t)
				t.Cleanup(k.kill)
				if _, err := c.Receive(ctx, nil); err != nil {
					t.Fatal(err)
				}
				q = c
			}
			if got := q.peerHere(); got != tc.want {
				t.Errorf("peerHere() = %v, want %v", got, tc.want)
			}
		})
	}
}

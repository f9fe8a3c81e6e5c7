package queue

import "testing"

// TestPeerHere checks which peers a spinning wait takes to be goroutines
// of this process, and so yields to every time: the other role's holder
// as its claim word names it (pid and PID namespace), here or in a child
// process, with one consumer or competing ones.
func TestPeerHere(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		childRole string // "" for no child: both roles in this process
		otherNS   bool   // the peer's claim names another PID namespace
		want      bool
	}{
		{"both roles here", nil, "", false, true},
		{"both roles here, competing consumers", []Option{Consumers(2)}, "", false, true},
		{"same pid in another PID namespace", nil, "", true, false},
		{"consumer in another process", nil, "consumer-hang", false, false},
		{"producer in another process", nil, "producer-hang", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, 1<<16, tc.opts...)
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
				if tc.otherNS {
					p.consumer.ns.Store(p.ns + 1)
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

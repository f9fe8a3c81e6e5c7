package topic

import (
	"errors"
	"io"
	"testing"
)

// TestAbort: a publisher's Abort ends the stream as cut short: every
// subscriber (of either policy, waiting or not) receives what was published
// and then an error wrapping ErrAborted, never io.EOF; Stat says so; a
// new publisher reopens the topic, and its Close ends it as complete.
func TestAbort(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"lossless", nil},
		{"overwrite", []Option{Overwrite()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, pub := newTopic(t, 4096, tc.opts...)
			sub := subscribe(t, name)
			for _, m := range []string{"a", "b"} {
				if err := pub.Publish(ctx, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Abort(); err != nil {
				t.Fatal(err)
			}
			st, err := Stat(name)
			if err != nil || !st.Closed || !st.Aborted {
				t.Fatalf("Stat after Abort: closed %v, aborted %v, %v; want both", st.Closed, st.Aborted, err)
			}
			for _, want := range []string{"a", "b"} {
				m, err := sub.Receive(ctx, nil)
				if err != nil || string(m) != want {
					t.Fatalf("Receive = %q, %v; want %q", m, err, want)
				}
			}
			for _, call := range []func() error{
				func() error { _, err := sub.Receive(ctx, nil); return err },
				func() error { _, err := sub.TryReceive(nil); return err },
				func() error { _, err := sub.ReceiveBatch(ctx, make([][]byte, 4)); return err },
				func() error { _, err := sub.Peek(ctx); return err },
			} {
				if err := call(); !errors.Is(err, ErrAborted) || err == io.EOF {
					t.Fatalf("after the last message of an aborted stream: %v, want ErrAborted", err)
				}
			}
			// A late joiner gets what the ring kept, and the same end.
			late := subscribe(t, name)
			n := 0
			for {
				_, err := late.Receive(ctx, nil)
				if err != nil {
					if !errors.Is(err, ErrAborted) || n != 2 {
						t.Fatalf("late joiner: %d messages then %v; want 2 then ErrAborted", n, err)
					}
					break
				}
				n++
			}
			next := open(t, name)
			if err := next.Publish(ctx, []byte("c")); err != nil {
				t.Fatal(err)
			}
			if err := next.Close(); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.Receive(ctx, nil); err != nil || string(m) != "c" {
				t.Fatalf("Receive from the next publisher = %q, %v", m, err)
			}
			if _, err := sub.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after the next publisher's Close: %v, want io.EOF", err)
			}
		})
	}
}

// TestAbortNotPublisher: Abort on a handle that never published is Close:
// it leaves the topic open.
func TestAbortNotPublisher(t *testing.T) {
	name, _ := newTopic(t, 4096)
	sub := subscribe(t, name)
	if err := sub.Abort(); err != nil {
		t.Fatal(err)
	}
	if st, err := Stat(name); err != nil || st.Closed || st.Aborted || st.Active != 0 {
		t.Fatalf("Stat after a subscriber's Abort: %+v, %v; want open, no subscriber", st, err)
	}
}

// TestClosedWordCorrupt: a closed word that is none of its values is
// reported as corrupt by Stat and by a subscriber at the end of the ring.
func TestClosedWordCorrupt(t *testing.T) {
	name, pub := newTopic(t, 4096)
	sub := subscribe(t, name)
	pub.closed.Store(7)
	if _, err := Stat(name); !errors.Is(err, ErrCorrupt) || Part(err) != PartCursors {
		t.Fatalf("Stat: %v, want ErrCorrupt in the cursors", err)
	}
	if _, err := sub.TryReceive(nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("TryReceive: %v, want ErrCorrupt", err)
	}
}

package topic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestJoinStart: a joiner starts with the topic's first message while the
// ring holds it, and at the live end once the ring went round, whatever
// the policy.
func TestJoinStart(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name      string
		opts      []Option
		round     bool
		wantFirst string
	}{
		{"lossless, first message kept", nil, false, "0"},
		{"lossless, ring gone round", nil, true, "late"},
		{"overwrite, first message kept", []Option{Overwrite()}, false, "0"},
		{"overwrite, ring gone round", []Option{Overwrite()}, true, "late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, pub := newTopic(t, 4096, append(tc.opts, StartGrace(0))...)
			if tc.round {
				goRound(t, pub)
			}
			for i := range 3 {
				if err := pub.Publish(ctx, []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			sub := subscribe(t, name)
			if err := pub.Publish(ctx, []byte("late")); err != nil {
				t.Fatal(err)
			}
			m, err := sub.Receive(ctx, nil)
			if err != nil || string(m) != tc.wantFirst {
				t.Fatalf("first message %q, %v; want %q", m, err, tc.wantFirst)
			}
			if tc.wantFirst == "0" && sub.Sequence() != 1 {
				t.Fatalf("after message 0, Sequence() = %d, want 1", sub.Sequence())
			}
		})
	}
}

// TestStartGrace: with no subscriber, a lossless publisher keeps the first
// message until its start grace is over (TryPublish says ErrFull, Publish
// waits), so that a subscriber that joins during the grace gets the whole
// stream; with no grace, the default, it writes over it at once.
func TestStartGrace(t *testing.T) {
	ctx := ctxT(t)
	t.Run("grace", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		name, pub := newTopic(t, 4096, StartGrace(grace))
		start := time.Now()
		n := 0
		for {
			err := pub.TryPublish([]byte(strconv.Itoa(n)))
			if err == ErrFull {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 0 || n > 4096/32 {
			t.Fatalf("%d messages fit before ErrFull in a 4 KiB ring", n)
		}
		if e := time.Since(start); e >= grace {
			t.Skipf("the machine is too slow: filling the ring took %v, the grace is %v", e, grace)
		}
		// A subscriber that joins while the publisher waits gets all.
		sub := subscribe(t, name)
		done := make(chan error, 1)
		go func() { done <- readAll(ctx, sub) }()
		const total = 1000
		for ; n < total; n++ {
			if err := pub.Publish(ctx, []byte(strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
		}
		if e := time.Since(start); e < grace {
			t.Errorf("the publisher wrote over the first message %v after it started, before its grace of %v", e, grace)
		}
		pub.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := sub.Sequence(); got != total {
			t.Fatalf("the subscriber ended at message %d, want %d", got, total)
		}
	})
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"no grace", []Option{StartGrace(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, pub := newTopic(t, 4096, tc.opts...)
			for i := range 1000 {
				if err := pub.TryPublish([]byte(strconv.Itoa(i))); err != nil {
					t.Fatalf("message %d with no subscriber and no grace: %v", i, err)
				}
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		_, pub := newTopic(t, 4096, StartGrace(time.Hour))
		for pub.TryPublish([]byte("x")) == nil {
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := pub.Publish(cctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish in the grace with a context that ends: %v, want DeadlineExceeded", err)
		}
	})
}

// readAll receives until io.EOF, checking that each message is its
// sequence number.
func readAll(ctx context.Context, sub *Topic) error {
	for {
		m, err := sub.Receive(ctx, nil)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if want := strconv.FormatUint(sub.Sequence()-1, 10); string(m) != want {
			return fmt.Errorf("got %q, want %q", m, want)
		}
	}
}

// TestJoinWhileOverwritten: subscribers join again and again while the
// publisher writes over the oldest records as fast as it can (no
// subscriber holds it: a lossless topic with no grace, or an overwrite
// topic). Each joiner's messages are the ones its Sequence names, in
// order: a start chosen at a record being written over is never kept.
func TestJoinWhileOverwritten(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"lossless", nil},
		{"overwrite", []Option{Overwrite()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, pub := newTopic(t, 1024, append(tc.opts, StartGrace(0))...)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := pub.Publish(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			defer func() {
				close(stop)
				wg.Wait()
			}()
			for j := range 200 {
				sub := subscribe(t, name)
				for range 5 {
					seq := sub.Sequence()
					m, err := sub.Receive(ctx, nil)
					var lag *LaggedError
					if errors.As(err, &lag) {
						continue // overwrite: counted, then the oldest kept
					}
					if err != nil {
						t.Fatalf("joiner %d: %v", j, err)
					}
					if want := strconv.FormatUint(seq, 10); string(m) != want {
						t.Fatalf("joiner %d: message %q where Sequence said %s", j, m, want)
					}
				}
				if err := sub.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestJoinClosed: a subscriber that joins a topic whose publisher already
// closed it gets what the ring still holds of that stream (all of it
// before the ring went round, else the history, else nothing) and then
// io.EOF at once, without waiting for another publisher.
func TestJoinClosed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []Option
		published int
		want      []string // what the joiner receives before io.EOF
	}{
		{"ring not round", nil, 3, []string{"0", "1", "2"}},
		{"ring round", nil, 1000, nil},
		{"ring round with history", []Option{History(2)}, 1000, []string{"998", "999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, pub := newTopic(t, 4096, tc.opts...)
			for i := range tc.published {
				if err := pub.TryPublish([]byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Close(); err != nil {
				t.Fatal(err)
			}
			sub := subscribe(t, name)
			var got []string
			for {
				m, err := sub.Receive(ctx, nil)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(m))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("the joiner of the closed topic received %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOverwriteLappedReader: a subscriber that keeps reading an overwrite
// topic whose publisher laps a small ring without pause sees messages and
// lags, never a corruption: a record or end marker written over between
// two of its loads is a lap.
func TestOverwriteLappedReader(t *testing.T) {
	name, pub := newTopic(t, 1024, Overwrite(), MaxMessage(64))
	sub := open(t, name)
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, 8)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := pub.Publish(ctx, msg); err != nil {
				done <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("Publish: %v", err)
		}
	}()
	var buf []byte
	received, lags := 0, 0
	for received+lags < 200_000 {
		var err error
		buf, err = sub.Receive(ctx, buf)
		switch {
		case err == nil:
			received++
		case errors.Is(err, ErrLagged):
			lags++
		default:
			t.Fatalf("after %d messages and %d lags: %v", received, lags, err)
		}
	}
	t.Logf("%d messages, %d lags", received, lags)
}

//go:build linux

package fault

import (
	"os"
	"os/signal"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mapTwoPages maps a new two-page file shared and returns the file and the
// mapping, both closed at the test's end.
func mapTwoPages(t *testing.T) (*os.File, []byte) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "watch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	page := os.Getpagesize()
	if err := f.Truncate(int64(2 * page)); err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return f, b
}

// TestWatch truncates a watched mapping under it: reads and writes past the
// new end go on, on private zero pages, the watch reports the hit, and from
// then on no write reaches the object until Reconnect maps its first page
// back; a fault in a mapping nobody watches still reaches the runtime's
// handler (Catch sees it as a panic).
func TestWatch(t *testing.T) {
	f, b := mapTwoPages(t)
	var w Watch
	if !w.Start(b) {
		t.Skip("no SIGBUS watch on this platform")
	}
	defer w.Stop()
	page := os.Getpagesize()
	b[0], b[page] = 5, 7
	if w.Hit() {
		t.Fatal("a write inside the file was a hit")
	}
	if err := f.Truncate(int64(page)); err != nil {
		t.Fatal(err)
	}
	if got := b[page+1]; got != 0 {
		t.Errorf("read %d past the truncated end, want 0 from the zero page", got)
	}
	if !w.Hit() {
		t.Fatal("a read past the truncated end was not a hit")
	}
	b[page+2] = 9
	if b[page+2] != 9 {
		t.Error("the private page did not keep a write")
	}
	fileByte := func() byte {
		buf := make([]byte, 1)
		if _, err := f.ReadAt(buf, 0); err != nil {
			t.Fatal(err)
		}
		return buf[0]
	}
	if b[0] != 0 {
		t.Errorf("the first page reads %d after the hit, want the zero page's 0", b[0])
	}
	b[0] = 1
	if got := fileByte(); got != 5 {
		t.Errorf("the file's first byte is %d after a write past the hit, want the 5 written before", got)
	}
	if err := w.Reconnect(int(f.Fd()), page); err != nil {
		t.Fatal(err)
	}
	b[0] = 2
	if got := fileByte(); got != 2 {
		t.Errorf("after Reconnect the file's first byte is %d, want the mapping's 2", got)
	}

	g, other := mapTwoPages(t)
	if err := g.Truncate(int64(page)); err != nil {
		t.Fatal(err)
	}
	var x byte
	if !Catch(func() { x = other[page] }) {
		t.Error("a fault in a mapping nobody watches did not reach the runtime")
	}
	_ = x
}

// TestWatchStop: a stopped watch's slot is free again and its faults are
// the runtime's.
func TestWatchStop(t *testing.T) {
	f, b := mapTwoPages(t)
	var w Watch
	if !w.Start(b) {
		t.Skip("no SIGBUS watch on this platform")
	}
	w.Stop()
	w.Stop()
	if w.Hit() {
		t.Error("a stopped watch reports a hit")
	}
	page := os.Getpagesize()
	if err := f.Truncate(int64(page)); err != nil {
		t.Fatal(err)
	}
	var x byte
	if !Catch(func() { x = b[page] }) {
		t.Error("a fault after Stop did not reach the runtime")
	}
	_ = x
}

// TestWatchTableFull: Start fails, rather than share a slot, when every
// slot is taken, and works again once one is free.
func TestWatchTableFull(t *testing.T) {
	_, b := mapTwoPages(t)
	var ws []*Watch
	defer func() {
		for _, w := range ws {
			w.Stop()
		}
	}()
	for {
		w := new(Watch)
		if !w.Start(b) {
			break
		}
		if w.Start(b) {
			t.Fatal("a watch started twice")
		}
		ws = append(ws, w)
		if len(ws) > 1<<16 {
			t.Fatal("Start never ran out of slots")
		}
	}
	if len(ws) == 0 {
		t.Skip("no SIGBUS watch on this platform")
	}
	ws[0].Stop()
	if !ws[0].Start(b) {
		t.Error("a freed slot was not reused")
	}
	var zero Watch
	if zero.Hit() {
		t.Error("the zero Watch reports a hit")
	}
	zero.Stop()
}

// TestWatchPassesSignalsOn: a SIGBUS that is no fault in a watched mapping
// (here one sent with kill, whose si_code is SI_USER) goes on to the Go
// runtime's handler, which hands it to os/signal as it would without the
// watch.
func TestWatchPassesSignalsOn(t *testing.T) {
	_, b := mapTwoPages(t)
	var w Watch
	if !w.Start(b) {
		t.Skip("no SIGBUS watch on this platform")
	}
	defer w.Stop()
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGBUS)
	defer signal.Stop(c)
	if err := unix.Kill(os.Getpid(), unix.SIGBUS); err != nil {
		t.Fatal(err)
	}
	select {
	case sig := <-c:
		if sig != unix.SIGBUS {
			t.Errorf("got %v, want SIGBUS", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a SIGBUS sent with kill never reached os/signal")
	}
	if w.Hit() {
		t.Error("a SIGBUS sent with kill was taken for a fault in the mapping")
	}
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/topic"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// topSortKeys are the orders "shm top" offers, in the order "s" cycles
// through them.
var topSortKeys = []string{"name", "size", "attached", "state", "fill", "in", "out"}

// topView is what "shm top" shows: the latest sample, sorted and
// filtered.
type topView struct {
	dir     string
	sampler *inspect.Sampler
	sortKey string
	reverse bool
	filter  string // a name prefix
	rows    []inspect.Sample
	err     error
	at      time.Time
}

// refresh takes a new sample.
func (v *topView) refresh() {
	v.rows, v.err = v.sampler.Sample()
	v.at = time.Now()
}

// table returns the header and the cells of the rows to show, filtered
// and sorted.
func (v *topView) table() ([]string, [][]string) {
	header := []string{"NAME", "KIND", "SIZE", "ATTACHED", "STATE", "FILL", "IN/s", "OUT/s", "DETAIL"}
	rows := make([]inspect.Sample, 0, len(v.rows))
	for _, r := range v.rows {
		if strings.HasPrefix(r.Name, v.filter) {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b inspect.Sample) int {
		c := topCompare(v.sortKey, a, b)
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if v.reverse {
			c = -c
		}
		return c
	})
	cells := make([][]string, 0, len(rows))
	for _, r := range rows {
		attached := "?"
		if n := r.AttachedCount(); n >= 0 {
			attached = fmt.Sprint(n)
		}
		fill, in, out := "-", "-", "-"
		switch {
		case r.Queue != nil:
			fill = fmt.Sprintf("%.1f%%", 100*r.Queue.Fill())
		case r.Topic != nil:
			fill = fmt.Sprintf("%.1f%%", 100*r.Topic.Fill())
		}
		if r.Rate != nil {
			in, out = formatRate(r.Rate.InMessages), formatRate(r.Rate.OutMessages)
		}
		cells = append(cells, []string{columnName(r.Name), r.Kind, formatSize(r.Size), attached, string(r.State), fill, in, out, topDetail(r)})
	}
	return header, cells
}

// topCompare orders two rows by key, the biggest first for numbers.
func topCompare(key string, a, b inspect.Sample) int {
	fill := func(s inspect.Sample) float64 {
		switch {
		case s.Queue != nil:
			return s.Queue.Fill()
		case s.Topic != nil:
			return s.Topic.Fill()
		}
		return -1
	}
	rate := func(s inspect.Sample, in bool) float64 {
		if s.Rate == nil {
			return -1
		}
		if in {
			return s.Rate.InBytes
		}
		return s.Rate.OutBytes
	}
	switch key {
	case "size":
		return cmp.Compare(b.Size, a.Size)
	case "attached":
		return cmp.Compare(b.AttachedCount(), a.AttachedCount())
	case "state":
		return strings.Compare(string(a.State), string(b.State))
	case "fill":
		return cmp.Compare(fill(b), fill(a))
	case "in":
		return cmp.Compare(rate(b, true), rate(a, true))
	case "out":
		return cmp.Compare(rate(b, false), rate(a, false))
	}
	return strings.Compare(a.Name, b.Name)
}

// topDetail sums up what an object's kind records, in one word for tables
// that scripts split on spaces: "msgs=3,producers=1/1,consumer=alive";
// for a topic "pub=alive,subs=2/2,lag=0/15": the publisher, the live
// subscribers of those recorded, and the least and most messages a live
// one has still to read.
func topDetail(r inspect.Sample) string {
	switch {
	case r.Queue != nil:
		q := r.Queue
		consumer := "none"
		if q.Consumer != nil {
			consumer = "dead"
			if q.Consumer.Alive {
				consumer = "alive"
			}
		}
		alive := 0
		for _, p := range q.Producers {
			if p.Alive {
				alive++
			}
		}
		return fmt.Sprintf("msgs=%d,producers=%d/%d,consumer=%s", q.Messages, alive, len(q.Producers), consumer)
	case r.Topic != nil:
		return topicDetail(r.Topic)
	case r.Semaphore != nil:
		return fmt.Sprintf("value=%d,waiters=%d", r.Semaphore.Value, r.Semaphore.Waiters)
	case r.Err != nil:
		return "unreadable"
	}
	return "-"
}

// topicDetail is topDetail for a topic.
func topicDetail(t *topic.Stats) string {
	pub := "none"
	switch {
	case t.Publisher != nil && t.Publisher.Alive:
		pub = "alive"
	case t.Publisher != nil:
		pub = "dead"
	case t.Closed:
		pub = "closed"
	}
	alive, lag := 0, "-"
	least, most := int64(math.MaxInt64), int64(0)
	for _, s := range t.Subscribers {
		if s.Alive {
			alive++
			least, most = min(least, s.Lag), max(most, s.Lag)
		}
	}
	if alive > 0 {
		lag = fmt.Sprintf("%d/%d", least, most)
	}
	return fmt.Sprintf("pub=%s,subs=%d/%d,lag=%s", pub, alive, len(t.Subscribers), lag)
}

// formatRate shows a message rate: "0", "850", "12.3k", "1.2M"; "?" when
// it cannot be estimated yet.
func formatRate(r float64) string {
	switch {
	case math.IsNaN(r):
		return "?"
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// writeTable prints the view once, for --once and for a stdout that is not
// a terminal.
func (v *topView) writeTable(w io.Writer) error {
	if v.err != nil {
		return v.err
	}
	header, cells := v.table()
	return writeColumns(w, append([][]string{header}, cells...), 2)
}

// topOptions are the flags of "shm top".
type topOptions struct {
	opts     inspect.Options
	once     bool
	reverse  bool
	sortKey  string
	interval time.Duration
}

// newTopCmd declares "shm top" and its flags.
func newTopCmd() *cobra.Command {
	var o topOptions
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the objects live: attached processes, state, queue and topic traffic",
		Long: `A live view of the shared-memory directory that refreshes every second, as
top does: each object with its kind, size, attached processes and state;
queues with their fill, messages per second in and out (estimated from the
cursors' movement and the mean record size) and their participants; topics
with their fill (what the slowest subscriber has still to read), messages
per second published and read (summed over the subscribers), the publisher
("closed" once it closed the topic), the live subscribers of those recorded
and the least and most messages one has still to read ("lag=0/15");
semaphores with their value and waiters.

Keys: q (or Esc, or Ctrl-C) quits; s sorts by the next key (name, size,
attached, state, fill, in, out), r reverses the order; / edits the
name-prefix filter (Enter keeps it, Esc clears it). SIGINT, SIGTERM or
SIGHUP quit as q does, putting the terminal back as it was, and exit with
status 130.

With --once, or when standard output is not a terminal, it prints one table
and exits.`,
		Args: exactArgs(),
		RunE: o.run,
	}
	cmd.Flags().BoolVar(&o.once, "once", false, "print one table and exit")
	cmd.Flags().StringVar(&o.sortKey, "sort", "name", "order by `KEY`: "+strings.Join(topSortKeys, ", "))
	cmd.Flags().BoolVar(&o.reverse, "reverse", false, "reverse the order")
	cmd.Flags().StringVar(&o.opts.Prefix, "prefix", "", "show only names that start with `P`")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Second, "time between refreshes")
	addDirFlag(cmd, &o.opts.Dir)
	return cmd
}

// run shows the live view, or one table with --once or off a terminal.
func (o *topOptions) run(cmd *cobra.Command, args []string) error {
	if !slices.Contains(topSortKeys, o.sortKey) {
		return usageErr(cmd, "--sort %q: want one of %s", o.sortKey, strings.Join(topSortKeys, ", "))
	}
	if o.interval <= 0 {
		return usageErr(cmd, "--interval %s: want more than 0", o.interval)
	}
	v := &topView{dir: o.opts.Dir, sampler: inspect.NewSampler(&inspect.Options{Dir: o.opts.Dir}), sortKey: o.sortKey, reverse: o.reverse, filter: o.opts.Prefix}
	out := cmd.OutOrStdout()
	f, isFile := out.(*os.File)
	if o.once || !isFile || !term.IsTerminal(int(f.Fd())) {
		v.refresh()
		return v.writeTable(out)
	}
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	if err := v.run(ctx, o.interval); err != nil || interruption(ctx) == nil {
		return err
	}
	return interrupted(ctx, "top", o.opts.Dir, "")
}

// run shows the view on the terminal until the user quits or ctx ends (a
// stop signal), and puts the terminal back as it was either way.
func (v *topView) run(ctx context.Context, interval time.Duration) error {
	screen, err := tcell.NewScreen()
	if err != nil {
		return fmt.Errorf("top: %w", err)
	}
	if err := screen.Init(); err != nil {
		return fmt.Errorf("top: %w", err)
	}
	defer screen.Fini()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				screen.PostEvent(tcell.NewEventInterrupt(ctx))
				return
			case <-t.C:
				screen.PostEvent(tcell.NewEventInterrupt(nil))
			}
		}
	}()
	editing := false
	v.refresh()
	for {
		v.draw(screen, editing)
		switch ev := screen.PollEvent().(type) {
		case nil:
			return nil
		case *tcell.EventInterrupt:
			if ev.Data() == ctx {
				return nil // the deferred Fini restores the terminal
			}
			v.refresh()
		case *tcell.EventResize:
			screen.Sync()
		case *tcell.EventKey:
			if editing {
				switch ev.Key() {
				case tcell.KeyEnter:
					editing = false
				case tcell.KeyEscape:
					editing, v.filter = false, ""
				case tcell.KeyBackspace, tcell.KeyBackspace2:
					if r := []rune(v.filter); len(r) > 0 {
						v.filter = string(r[:len(r)-1])
					}
				case tcell.KeyRune:
					v.filter += string(ev.Rune())
				}
				continue
			}
			switch {
			case ev.Key() == tcell.KeyEscape, ev.Key() == tcell.KeyCtrlC, ev.Key() == tcell.KeyRune && ev.Rune() == 'q':
				return nil
			case ev.Key() == tcell.KeyRune && ev.Rune() == 's':
				i := slices.Index(topSortKeys, v.sortKey)
				v.sortKey = topSortKeys[(i+1)%len(topSortKeys)]
			case ev.Key() == tcell.KeyRune && ev.Rune() == 'r':
				v.reverse = !v.reverse
			case ev.Key() == tcell.KeyRune && ev.Rune() == '/':
				editing = true
			}
		}
	}
}

// draw paints the view: a status line, the header, the rows.
func (v *topView) draw(s tcell.Screen, editing bool) {
	s.Clear()
	width, height := s.Size()
	put := func(y int, text string, style tcell.Style) {
		x := 0
		for _, r := range text {
			w := runeWidth(r)
			if x+w > width {
				break
			}
			s.SetContent(x, y, r, nil, style)
			x += w
		}
	}
	order := v.sortKey
	if v.reverse {
		order += " (reversed)"
	}
	filter := printable(v.filter)
	if v.filter == "" {
		filter = "none"
	}
	if editing {
		filter = "/" + v.filter + "_"
	}
	header, cells := v.table()
	status := fmt.Sprintf("shm top  %s  %s  %d object%s  sort: %s  filter: %s  [q quit, s sort, r reverse, / filter]",
		shm.QuoteName(v.dir), v.at.Format("15:04:05"), len(cells), plural(len(cells)), order, filter)
	put(0, status, tcell.StyleDefault)
	if v.err != nil {
		put(1, "error: "+v.err.Error(), tcell.StyleDefault.Bold(true))
		s.Show()
		return
	}
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, cells...) {
		for i, c := range row {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	line := func(row []string) string { return alignRow(row, widths, 2) }
	put(2, line(header), tcell.StyleDefault.Reverse(true))
	for i, row := range cells {
		if 3+i >= height {
			break
		}
		put(3+i, line(row), tcell.StyleDefault)
	}
	s.Show()
}

package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the results as a JSON list, one object per case, for
// scripts: transport, workload ("rtt", "wake", "stream" or "batch"), size
// in bytes, capacity (bytes per direction's ring, for the transports that
// have one), the latency percentiles in nanoseconds (p50_ns, p90_ns,
// p99_ns, p999_ns, max_ns) for round trips, msgs_per_s and bytes_per_s for
// streams, the ratios vs_c (to the C limit), vs_raw, vs_queue, vs_unix,
// vs_pipe and vs_sem (time per message over theirs; with Rounds, the median
// of the rounds' ratios, and vs_c_low, vs_c_high, vs_raw_low, vs_raw_high,
// vs_queue_low and vs_queue_high the lowest and highest round's), for round
// trips vs_c_p999 (the p99.9 over the least p99.9 of the C limit's cases;
// with Rounds the median of the rounds'), the peer's CPU time in the
// measured part (peer_cpu_ns, peer_cpu_percent; 0 for the C rows, which do
// not measure it), the CPUs, the lowest and highest probe of the link
// between them around the case (link_low_ns, link_high_ns), with Rounds and
// two placements of the CPUs the ratios within each (by_placement:
// link_low_ns and link_high_ns of the placement, rounds, compared, vs_c,
// vs_c_low, vs_c_high, vs_c_p999, vs_raw), for a C case on amd64 copy (which
// of glibc's copies its figures are from, "memcpy" or "vector"; see
// Result.Copy), error for a case that failed and
// skipped for one that did not run. The capacity sweep's rows follow, with
// "sweep": true.
func WriteJSON(w io.Writer, rep *Report) error {
	res := append(append([]Result{}, rep.Results...), rep.Sweep...)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// isC reports whether a transport is one of the C programs, whose peer's
// CPU use is not measured.
func isC(transport string) bool { return transport == CPingPong || transport == CRing }

// columns are the optional columns of a table: those that some row fills.
type columns struct{ capacity, c, cTail, queue, pipe bool }

// onQueue reports whether a transport is one of the patterns built on the
// queue, whose yardstick is the queue (the xQUEUE column).
func onQueue(transport string) bool {
	return strings.HasPrefix(transport, "topic") || strings.HasPrefix(transport, Queue+"-consumers")
}

func columnsOf(rows []Result) columns {
	var k columns
	for _, r := range rows {
		k.capacity = k.capacity || r.Capacity > 0
		k.c = k.c || r.VsC > 0
		k.cTail = k.cTail || r.VsCTail > 0
		k.pipe = k.pipe || r.VsPipe > 0
		k.queue = k.queue || onQueue(r.Transport) && r.VsQueue > 0
	}
	return k
}

// WriteTable writes the results for people: a table each of round trips,
// wake-ups, streams and batched streams, with the ring capacity where a
// transport has one, the peer's CPU use and each row's time per message
// relative to the C limit, the raw transport, the Unix socket (the
// semaphore hand-off for wake-ups) and the pipe; then the capacity sweep,
// if the run made one.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rep.Rounds > 1 {
		fmt.Fprintf(w, "Two processes, %s; %d rounds of every case in turn, %v per case and round.\n", rep.Placement, rep.Rounds, rep.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "Two processes, %s; %v per case.\n", rep.Placement, rep.Duration.Round(time.Millisecond))
	}
	writeLink(w, rep)
	if rep.Interrupted {
		fmt.Fprintf(w, "Interrupted: %s.\n", interruptedScope(rep))
	}
	var rtt, wake, stream, batch, failed, skipped []Result
	for _, r := range rep.Results {
		switch {
		case r.Error != "":
			failed = append(failed, r)
		case r.Skipped != "":
			skipped = append(skipped, r)
		case r.Workload == RTT:
			rtt = append(rtt, r)
		case r.Workload == Wake:
			wake = append(wake, r)
		case r.Workload == Batch:
			batch = append(batch, r)
		default:
			stream = append(stream, r)
		}
	}
	for _, r := range rep.Sweep {
		if r.Error != "" {
			failed = append(failed, r)
		}
	}
	hidden := false // a percentile shown as "-"
	// head and tail are a row's first and last cells, around its figures.
	head := func(k columns, r Result) []string {
		cells := []string{r.Transport, FormatSize(r.Size)}
		if k.capacity {
			cells = append(cells, capacityCell(r.Capacity))
		}
		return cells
	}
	tail := func(k columns, r Result, vs float64) []string {
		cpu := formatPercent(r.PeerCPUPercent)
		if isC(r.Transport) {
			cpu = "-"
		}
		cells := []string{cpu}
		if k.c {
			cells = append(cells, rangeRatio(r.VsC, r.VsCLow, r.VsCHigh))
		}
		if k.cTail {
			cells = append(cells, ratio(r.VsCTail))
		}
		cells = append(cells, rawRatio(r))
		if k.queue {
			cells = append(cells, rangeRatio(r.VsQueue, r.VsQueueLow, r.VsQueueHigh))
		}
		cells = append(cells, ratio(vs))
		if k.pipe {
			cells = append(cells, ratio(r.VsPipe))
		}
		return cells
	}
	header := func(k columns, figures, vs string) string {
		h := "TRANSPORT\tSIZE\t"
		if k.capacity {
			h += "CAPACITY\t"
		}
		h += figures + "\tPEER CPU\t"
		if k.c {
			h += "xC\t"
		}
		if k.cTail {
			h += "xC P99.9\t"
		}
		h += "xRAW\t"
		if k.queue {
			h += "xQUEUE\t"
		}
		h += vs
		if k.pipe {
			h += "\txPIPE"
		}
		return h
	}
	roundTrips := func(title, vs string, rows []Result, vsOf func(Result) float64) error {
		if len(rows) == 0 {
			return nil
		}
		k := columnsOf(rows)
		fmt.Fprintf(w, "\n%s\n", title)
		fmt.Fprintln(tw, header(k, "P50\tP90\tP99\tP99.9\tMAX\tROUND TRIPS", vs))
		for _, r := range rows {
			cells := head(k, r)
			for _, q := range []struct {
				q float64
				v uint64
			}{{0.50, r.P50NS}, {0.90, r.P90NS}, {0.99, r.P99NS}, {0.999, r.P999NS}} {
				c := quantileCell(q.q, q.v, r.Samples)
				hidden = hidden || c == "-"
				cells = append(cells, c)
			}
			cells = append(cells, FormatNS(r.MaxNS), fmt.Sprint(r.Samples))
			cells = append(cells, tail(k, r, vsOf(r))...)
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		writeCopies(w, rows)
		return nil
	}
	if err := roundTrips("Round trip (ping-pong), percentiles of every round trip:", "xUNIX", rtt,
		func(r Result) float64 { return r.VsUnix }); err != nil {
		return err
	}
	title := fmt.Sprintf("Wake-up of an idle peer (ping-pong, %v pause before each round trip), percentiles of every round trip:", WakeGap)
	if err := roundTrips(title, "xSEM", wake, func(r Result) float64 { return r.VsSem }); err != nil {
		return err
	}
	streams := func(title string, rows []Result) error {
		if len(rows) == 0 {
			return nil
		}
		k := columnsOf(rows)
		fmt.Fprintf(w, "\n%s\n", title)
		fmt.Fprintln(tw, header(k, "MSG/S\tBYTES/S\tNS/MSG", "xUNIX"))
		for _, r := range rows {
			cells := append(head(k, r), FormatRate(r.MsgsPerS, ""), FormatRate(r.BytesPerS, "B"), fmt.Sprintf("%.1f", 1e9/r.MsgsPerS))
			fmt.Fprintln(tw, strings.Join(append(cells, tail(k, r, r.VsUnix)...), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		writeCopies(w, rows)
		return nil
	}
	if err := streams("Streaming (one way), messages sent one at a time:", stream); err != nil {
		return err
	}
	if err := streams(fmt.Sprintf("Streaming (one way) in batches of %d (SendBatch and ReceiveBatch, one write; one at a time where a transport has no batch call):", BatchLen), batch); err != nil {
		return err
	}
	all := append(append(append([]Result{}, rtt...), stream...), batch...)
	k := columnsOf(all)
	if k.c {
		fmt.Fprintf(w, "\nxC: time per message (median round trip, or 1/rate) over that of the C limit at the same size: the faster of c-pingpong and c-ring for round trips, c-ring for streams, at its fastest capacity.\n")
		fmt.Fprintf(w, "xRAW, xUNIX, xPIPE: the same over raw (at its fastest capacity), unix and pipe; below 1 is faster.\n")
		if k.cTail {
			fmt.Fprintf(w, "xC P99.9: a round trip's p99.9 over the least p99.9 of the C limit's cases at the same size.\n")
		}
	} else {
		fmt.Fprintf(w, "\nxRAW, xUNIX: time per message (median round trip, or 1/rate) over that of raw and of unix at the same size; below 1 is faster.\n")
	}
	if k.queue {
		fmt.Fprintf(w, "xQUEUE: the same over queue's (default waiting), the yardstick of the patterns built on it.\n")
	}
	if k.capacity {
		fmt.Fprintf(w, "CAPACITY: bytes of each direction's ring, for the transports that have one.\n")
	}
	if copied(rep) {
		fmt.Fprintf(w, "C copy, under each table: each C case whose messages are larger than glibc's REP MOVSB threshold ran its program twice, half its time each, copying messages with glibc's memcpy as glibc chooses (memcpy: REP MOVSB above that threshold) and with glibc's vector loop at every size (vector); its row is the faster run (with rounds, the copies that won, joined with +).\n")
	}
	if rep.Rounds > 1 {
		fmt.Fprintf(w, "Rounds: every ratio is the median of the ratios of the %d rounds, each taken within one round (of those rounds that have one); after xC, xRAW and xQUEUE, in brackets, the lowest and highest round's.\n", rep.Rounds)
	}
	if rep.placed {
		fmt.Fprintf(w, "Placements: a ratio compares two cases of one round only when both ran in one placement of the CPUs (the link probes before and after each agree; for a yardstick run at several capacities, every one of its cases); rounds without such a pair do not count.\n")
	}
	if len(wake) > 0 {
		fmt.Fprintf(w, "xSEM: median wake-up round trip over sem's, a bare futex hand-off (both sides sleep on process-shared semaphores).\n")
		fmt.Fprintf(w, "Wake: the driver pauses %v before each round trip, long enough for a peer that sleeps when idle to be asleep (queue's default strategy spins only briefly first); only the round trip is timed.\n", WakeGap)
	}
	if len(rtt)+len(wake)+len(stream)+len(batch) > 0 {
		fmt.Fprintf(w, "PEER CPU: CPU time (user and system, all threads) of the peer process while the case was measured, without its start-up and warm-up, over that wall time; 100%% is one CPU busy throughout (- for the C programs, which busy-poll throughout).\n")
	}
	if hidden {
		fmt.Fprintf(w, "A percentile shown as - has fewer than one round trip above it: the case timed too few.\n")
	}
	if err := writeByPlacement(w, tw, rep); err != nil {
		return err
	}
	if err := writeSweep(w, tw, rep); err != nil {
		return err
	}
	described := map[string]string{}
	for _, r := range rep.Results {
		described[r.Transport] = r.Description
	}
	listed := false
	for _, name := range TransportNames() {
		if d := described[name]; d != "" {
			if !listed {
				fmt.Fprintf(w, "\nTransports:\n")
				listed = true
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, d)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\nNot run:\n")
		said := map[string]bool{}
		for _, r := range skipped {
			if !said[r.Transport] {
				said[r.Transport] = true
				fmt.Fprintf(w, "  %s: %s\n", r.Transport, r.Skipped)
			}
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed:\n")
		for _, r := range failed {
			what := ""
			if r.Sweep {
				what = " (capacity sweep, " + FormatSize(int(r.Capacity)) + ")"
			}
			fmt.Fprintf(w, "  %s %s %s%s: %s\n", r.Transport, r.Workload, FormatSize(r.Size), what, r.Error)
		}
	}
	return nil
}

// copied reports whether a C case of the run, its sweep's included, ran
// both of glibc's copies (Result.Copy).
func copied(rep *Report) bool {
	for _, rs := range [][]Result{rep.Results, rep.Sweep} {
		for _, r := range rs {
			if r.Copy != "" {
				return true
			}
		}
	}
	return false
}

// writeCopies writes, under a table of rows, the copy each of its C rows
// kept (Result.Copy), each row named by its transport and size, and its
// capacity where the table has that transport and size at several:
// "C copy: c-ring 64B memcpy, c-ring 64KiB vector." Nothing when no row
// names a copy.
func writeCopies(w io.Writer, rows []Result) {
	type key struct {
		t string
		s int
	}
	n := map[key]int{}
	for _, r := range rows {
		n[key{r.Transport, r.Size}]++
	}
	var said []string
	for _, r := range rows {
		if r.Copy == "" {
			continue
		}
		row := r.Transport + " " + FormatSize(r.Size)
		if n[key{r.Transport, r.Size}] > 1 {
			row += " " + capacityCell(r.Capacity)
		}
		said = append(said, row+" "+r.Copy)
	}
	if len(said) > 0 {
		fmt.Fprintf(w, "C copy: %s.\n", strings.Join(said, ", "))
	}
}

// capacityCopies formats the copies that one row of the sweep's table
// kept at each of caps, the table's columns (byCap, by nominal capacity):
// one name when every column has the same, else one per column joined
// with "/", "-" for a column without one.
func capacityCopies(byCap map[int64]string, caps []int64) string {
	each := make([]string, len(caps))
	for i, c := range caps {
		each[i] = cmp.Or(byCap[c], "-")
	}
	if len(slices.Compact(slices.Clone(each))) == 1 {
		return each[0]
	}
	return strings.Join(each, "/")
}

// interruptedScope says what the figures of an interrupted run cover.
func interruptedScope(rep *Report) string {
	switch {
	case len(rep.Results) == 0:
		return "no case finished"
	case rep.Rounds == 0:
		return "the figures cover the cases of the first round that finished"
	case rep.Rounds == 1:
		return "the figures cover the one round that was complete"
	}
	return fmt.Sprintf("the figures cover the %d rounds that were complete", rep.Rounds)
}

// writeLink says what the probes of the link between the two CPUs saw.
func writeLink(w io.Writer, rep *Report) {
	ps := rep.Placements
	switch {
	case len(ps) == 1:
		fmt.Fprintf(w, "A cache line's round trip between the two CPUs, probed before and after every case: %s.\n", linkCell(ps[0]))
	case len(ps) == 2:
		fmt.Fprintf(w, "A cache line's round trip between the two CPUs, probed before and after every case: %s around some cases, %s around others.\n",
			linkCell(ps[0]), linkCell(ps[1]))
		if rep.placed {
			fmt.Fprintf(w, "The host moved the CPUs during the run: ratios compare cases of one placement only; see \"By placement\".\n")
		} else {
			fmt.Fprintf(w, "The host moved the CPUs during the run, and a ratio may compare cases that ran in different placements; with --rounds, and two rounds complete, ratios compare cases of one placement only.\n")
		}
	}
}

// linkCell formats a placement's range of link probes: 120ns-130ns.
func linkCell(p PlacementRange) string {
	if p.LowNS == p.HighNS {
		return FormatNS(p.LowNS)
	}
	return FormatNS(p.LowNS) + "-" + FormatNS(p.HighNS)
}

// writeByPlacement writes, for a run whose CPUs changed placement, each
// row's ratios to the C limit and raw within each placement, with how
// many rounds gave them of those the row ran there.
func writeByPlacement(w io.Writer, tw *tabwriter.Writer, rep *Report) error {
	if !rep.placed {
		return nil
	}
	var rows []Result
	for _, r := range rep.Results {
		for _, p := range r.ByPlacement {
			if p.VsC > 0 || p.VsRaw > 0 {
				rows = append(rows, r)
				break
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	tails := false
	for _, r := range rows {
		for _, p := range r.ByPlacement {
			tails = tails || p.VsCTail > 0
		}
	}
	fmt.Fprintf(w, "\nBy placement: each row's ratios within each placement of the two CPUs (the link's round trip around the case), medians over the rounds in which the row and its yardstick both ran there, the range of xC in brackets; ROUNDS: how many rounds gave a ratio, of those the row ran there:\n")
	h := "TRANSPORT\tWORKLOAD\tSIZE\tCAPACITY"
	for _, p := range rep.Placements {
		at := " AT " + linkCell(p)
		h += "\txC" + at
		if tails {
			h += "\txC P99.9" + at
		}
		h += "\txRAW" + at + "\tROUNDS"
	}
	fmt.Fprintln(tw, h)
	for _, r := range rows {
		cells := []string{r.Transport, string(r.Workload), FormatSize(r.Size), capacityCell(r.Capacity)}
		for _, p := range r.ByPlacement {
			cells = append(cells, rangeRatio(p.VsC, p.VsCLow, p.VsCHigh))
			if tails {
				cells = append(cells, ratio(p.VsCTail))
			}
			cells = append(cells, ratio(p.VsRaw), fmt.Sprintf("%d of %d", p.Compared, p.Rounds))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeSweep writes the capacity sweep: a row per transport, workload and
// size, the rate at each capacity, the one chosen marked with a star.
func writeSweep(w io.Writer, tw *tabwriter.Writer, rep *Report) error {
	if len(rep.Sweep) == 0 {
		return nil
	}
	type key struct {
		t string
		w Workload
		s int
	}
	var caps []int64
	var keys []key
	rate := map[key]map[int64]string{}
	copies := map[key]map[int64]string{} // the C rows' (Result.Copy)
	best := map[key]int64{}
	boundary, _ := placements([][]Result{rep.Sweep})
	apart := false // a case ran apart from the others of its row
	for _, r := range rep.Sweep {
		k := key{r.Transport, r.Workload, r.Size}
		if rate[k] == nil {
			rate[k] = map[int64]string{}
			keys = append(keys, k)
			best[k] = nominalCapacity(sweptCapacity(rep.Sweep, boundary, r.Transport, r.Workload, r.Size))
		}
		nominal := nominalCapacity(r.Capacity)
		if !slices.Contains(caps, nominal) {
			caps = append(caps, nominal)
		}
		switch {
		case r.Error != "":
			rate[k][nominal] = "failed"
		default:
			rate[k][nominal] = FormatRate(r.BytesPerS, "B")
			if r.Copy != "" {
				if copies[k] == nil {
					copies[k] = map[int64]string{}
				}
				copies[k][nominal] = r.Copy
			}
			if placementOf(r, boundary) != sweepPlacement(rep.Sweep, boundary, r.Transport, r.Workload, r.Size) {
				rate[k][nominal] += "~"
				apart = true
			}
		}
	}
	slices.Sort(caps)
	fmt.Fprintf(w, "\nCapacity sweep (%v per case): the rate at each ring capacity; * marks the one the run used.\n", rep.SweepDuration.Round(time.Millisecond))
	if apart {
		fmt.Fprintf(w, "~ marks a case that ran in another placement of the CPUs than most of its row, or while they moved: it was not compared.\n")
	}
	h := "TRANSPORT\tWORKLOAD\tSIZE"
	for _, c := range caps {
		h += "\t" + capacityCell(c)
	}
	fmt.Fprintln(tw, h)
	for _, k := range keys {
		cells := []string{k.t, string(k.w), FormatSize(k.s)}
		for _, c := range caps {
			v := rate[k][c]
			if v == "" {
				v = "-"
			}
			if c == best[k] && rate[k][c] != "" && rate[k][c] != "failed" {
				v += "*"
			}
			cells = append(cells, v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var said []string
	for _, k := range keys {
		if copies[k] != nil {
			said = append(said, fmt.Sprintf("%s %s %s %s", k.t, k.w, FormatSize(k.s), capacityCopies(copies[k], caps)))
		}
	}
	if len(said) > 0 {
		fmt.Fprintf(w, "C copy, capacity by capacity as in the columns: %s.\n", strings.Join(said, "; "))
	}
	return nil
}

// nominalCapacity rounds a capacity that a transport enlarged to hold two
// slots back to the sweep's column: the power of two at or below it.
func nominalCapacity(c int64) int64 {
	p := int64(1)
	for p*2 <= c {
		p *= 2
	}
	return p
}

// capacityCell formats a ring capacity, or "-" for none.
func capacityCell(c int64) string {
	if c <= 0 {
		return "-"
	}
	return FormatSize(int(c))
}

// quantileCell formats the q-quantile v of n samples, or "-" when fewer
// than one sample lies above it (p99.9 of 500 round trips is only the
// maximum under another name).
func quantileCell(q float64, v, n uint64) string {
	if !hasQuantile(q, n) {
		return "-"
	}
	return FormatNS(v)
}

// hasQuantile reports whether n samples have a q-quantile worth the name:
// at least one sample above it.
func hasQuantile(q float64, n uint64) bool { return float64(n)*(1-q) >= 1 }

// formatPercent formats a percentage with two significant digits or to a
// tenth: 100%, 37%, 2.4%, 0.3%.
func formatPercent(p float64) string {
	if p >= 9.95 {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// rawRatio formats a result's ratio to raw, with its rounds' range.
func rawRatio(r Result) string { return rangeRatio(r.VsRaw, r.VsRawLow, r.VsRawHigh) }

// rangeRatio formats a ratio, with the range of its rounds' ratios, low to
// high, when there were several and they differ.
func rangeRatio(v, low, high float64) string {
	if low > 0 && high > low {
		return fmt.Sprintf("%s (%s-%s)", ratio(v), ratio(low), ratio(high))
	}
	return ratio(v)
}

func ratio(r float64) string {
	switch {
	case r == 0:
		return "-"
	case r < 0.1:
		return fmt.Sprintf("%.3f", r)
	}
	return sig3(r)
}

// FormatNS formats nanoseconds with three significant digits: 431ns,
// 1.25µs, 46.3µs, 2.69ms.
func FormatNS(ns uint64) string {
	v := float64(ns)
	switch {
	case v < 1e3:
		return fmt.Sprintf("%.0fns", v)
	case v < 1e6:
		return sig3(v/1e3) + "µs"
	case v < 1e9:
		return sig3(v/1e6) + "ms"
	}
	return sig3(v/1e9) + "s"
}

// FormatRate formats a rate per second with an SI prefix: 4.43M/s,
// 18.3GB/s.
func FormatRate(v float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T"}
	i := 0
	for v >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	return sig3(v) + prefixes[i] + unit + "/s"
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// FormatSize formats a message size in bytes: 64B, 1KiB, 64KiB, 1.5KiB.
func FormatSize(n int) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0") + units[i]
}

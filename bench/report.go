package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the results as a JSON list, one object per case, for
// scripts: transport, workload ("rtt", "wake" or "stream"), size in bytes,
// the latency percentiles in nanoseconds (p50_ns, p90_ns, p99_ns, p999_ns,
// max_ns) for round trips, msgs_per_s and bytes_per_s for streams, the
// ratios vs_raw, vs_unix and vs_sem (time per message over theirs; with
// Rounds, the median of the rounds' ratios, and vs_raw_low and vs_raw_high
// the lowest and highest round's ratio to raw), the peer's CPU time in the
// measured part (peer_cpu_ns, peer_cpu_percent), the CPUs, and error for a
// case that failed.
func WriteJSON(w io.Writer, rep *Report) error {
	res := rep.Results
	if res == nil {
		res = []Result{}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes the results for people: a table each of round trips,
// wake-ups and streams, with the peer's CPU use and each row's time per
// message relative to the raw limit and to the Unix socket (to the
// semaphore hand-off for wake-ups).
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rep.Rounds > 1 {
		fmt.Fprintf(w, "Two processes, %s; %d rounds of every case in turn, %v per case and round.\n", rep.Placement, rep.Rounds, rep.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "Two processes, %s; %v per case.\n", rep.Placement, rep.Duration.Round(time.Millisecond))
	}
	var rtt, wake, stream, failed []Result
	for _, r := range rep.Results {
		switch {
		case r.Error != "":
			failed = append(failed, r)
		case r.Workload == RTT:
			rtt = append(rtt, r)
		case r.Workload == Wake:
			wake = append(wake, r)
		default:
			stream = append(stream, r)
		}
	}
	hidden := false // a percentile shown as "-"
	roundTrips := func(title, vs string, rows []Result, vsOf func(Result) float64) error {
		if len(rows) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s\n", title)
		fmt.Fprintf(tw, "TRANSPORT\tSIZE\tP50\tP90\tP99\tP99.9\tMAX\tROUND TRIPS\tPEER CPU\txRAW\t%s\n", vs)
		for _, r := range rows {
			cells := []string{r.Transport, FormatSize(r.Size)}
			for _, q := range []struct {
				q float64
				v uint64
			}{{0.50, r.P50NS}, {0.90, r.P90NS}, {0.99, r.P99NS}, {0.999, r.P999NS}} {
				c := quantileCell(q.q, q.v, r.Samples)
				hidden = hidden || c == "-"
				cells = append(cells, c)
			}
			cells = append(cells, FormatNS(r.MaxNS), fmt.Sprint(r.Samples), FormatPercent(r.PeerCPUPercent),
				rawRatio(r), ratio(vsOf(r)))
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return tw.Flush()
	}
	if err := roundTrips("Round trip (ping-pong), percentiles of every round trip:", "xUNIX", rtt,
		func(r Result) float64 { return r.VsUnix }); err != nil {
		return err
	}
	title := fmt.Sprintf("Wake-up of an idle peer (ping-pong, %v pause before each round trip), percentiles of every round trip:", WakeGap)
	if err := roundTrips(title, "xSEM", wake, func(r Result) float64 { return r.VsSem }); err != nil {
		return err
	}
	if len(stream) > 0 {
		fmt.Fprintf(w, "\nStreaming (one way), messages sent one at a time:\n")
		fmt.Fprintln(tw, "TRANSPORT\tSIZE\tMSG/S\tBYTES/S\tNS/MSG\tPEER CPU\txRAW\txUNIX")
		for _, r := range stream {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", r.Transport, FormatSize(r.Size),
				FormatRate(r.MsgsPerS, ""), FormatRate(r.BytesPerS, "B"), 1e9/r.MsgsPerS, FormatPercent(r.PeerCPUPercent),
				rawRatio(r), ratio(r.VsUnix))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nxRAW, xUNIX: time per message (median round trip, or 1/rate) over that of raw and of unix at the same size; below 1 is faster.\n")
	if rep.Rounds > 1 {
		fmt.Fprintf(w, "Rounds: every ratio is the median of the %d rounds' ratios, each taken within one round; after xRAW, in brackets, the lowest and highest round's.\n", rep.Rounds)
	}
	if len(wake) > 0 {
		fmt.Fprintf(w, "xSEM: median wake-up round trip over sem's, a bare futex hand-off (both sides sleep on process-shared semaphores).\n")
		fmt.Fprintf(w, "Wake: the driver pauses %v before each round trip, long enough for a peer that sleeps when idle to be asleep (queue's default strategy spins only briefly first); only the round trip is timed.\n", WakeGap)
	}
	if len(rtt)+len(wake)+len(stream) > 0 {
		fmt.Fprintf(w, "PEER CPU: CPU time (user and system, all threads) of the peer process while the case was measured, without its start-up and warm-up, over that wall time; 100%% is one CPU busy throughout.\n")
	}
	if hidden {
		fmt.Fprintf(w, "A percentile shown as - has fewer than one round trip above it: the case timed too few.\n")
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		if !seen[r.Transport] && r.Description != "" {
			if len(seen) == 0 {
				fmt.Fprintf(w, "\nTransports:\n")
			}
			seen[r.Transport] = true
			fmt.Fprintf(tw, "  %s\t%s\n", r.Transport, r.Description)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed:\n")
		for _, r := range failed {
			fmt.Fprintf(w, "  %s %s %s: %s\n", r.Transport, r.Workload, FormatSize(r.Size), r.Error)
		}
	}
	return nil
}

// quantileCell formats the q-quantile v of n samples, or "-" when fewer
// than one sample lies above it (p99.9 of 500 round trips is only the
// maximum under another name).
func quantileCell(q float64, v, n uint64) string {
	if float64(n)*(1-q) < 1 {
		return "-"
	}
	return FormatNS(v)
}

// FormatPercent formats a percentage with two significant digits or to a
// tenth: 100%, 37%, 2.4%, 0.3%.
func FormatPercent(p float64) string {
	if p >= 9.95 {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// rawRatio formats a result's ratio to raw, with the range of its rounds'
// ratios when there were several and they differ.
func rawRatio(r Result) string {
	if r.VsRawLow > 0 && r.VsRawHigh > r.VsRawLow {
		return fmt.Sprintf("%s (%s-%s)", ratio(r.VsRaw), ratio(r.VsRawLow), ratio(r.VsRawHigh))
	}
	return ratio(r.VsRaw)
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

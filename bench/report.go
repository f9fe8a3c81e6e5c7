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
// scripts: transport, workload ("rtt" or "stream"), size in bytes, the
// latency percentiles in nanoseconds (p50_ns, p90_ns, p99_ns, p999_ns,
// max_ns) for round trips, msgs_per_s and bytes_per_s for streams, the
// ratios vs_raw and vs_unix (time per message over theirs), the CPUs, and
// error for a case that failed.
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

// WriteTable writes the results for people: one table of round trips and
// one of streams, with each row's time per message relative to the raw
// limit and to the Unix socket.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Two processes, %s; %v per case.\n", rep.Placement, rep.Duration.Round(time.Millisecond))
	var rtt, stream, failed []Result
	for _, r := range rep.Results {
		switch {
		case r.Error != "":
			failed = append(failed, r)
		case r.Workload == RTT:
			rtt = append(rtt, r)
		default:
			stream = append(stream, r)
		}
	}
	if len(rtt) > 0 {
		fmt.Fprintf(w, "\nRound trip (ping-pong), percentiles of every round trip:\n")
		fmt.Fprintln(tw, "TRANSPORT\tSIZE\tP50\tP90\tP99\tP99.9\tMAX\tROUND TRIPS\txRAW\txUNIX")
		for _, r := range rtt {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Transport, FormatSize(r.Size),
				FormatNS(r.P50NS), FormatNS(r.P90NS), FormatNS(r.P99NS), FormatNS(r.P999NS), FormatNS(r.MaxNS),
				r.Samples, ratio(r.VsRaw), ratio(r.VsUnix))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(stream) > 0 {
		fmt.Fprintf(w, "\nStreaming (one way), messages sent one at a time:\n")
		fmt.Fprintln(tw, "TRANSPORT\tSIZE\tMSG/S\tBYTES/S\tNS/MSG\txRAW\txUNIX")
		for _, r := range stream {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n", r.Transport, FormatSize(r.Size),
				FormatRate(r.MsgsPerS, ""), FormatRate(r.BytesPerS, "B"), 1e9/r.MsgsPerS, ratio(r.VsRaw), ratio(r.VsUnix))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nxRAW, xUNIX: time per message (median round trip, or 1/rate) over that of raw and of unix at the same size; below 1 is faster.\n")
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

func ratio(r float64) string {
	switch {
	case r == 0:
		return "-"
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	case r >= 0.1:
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.3f", r)
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

package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Plot geometry, in SVG user units (pixels).
const (
	plotWidth   = 960
	panelHeight = 300
	marginLeft  = 80
	marginRight = 200 // the legend
	marginTop   = 60
	panelGap    = 70 // room for the x axis labels and the next title
)

// palette colours transports in report order; a transport keeps its colour
// in every panel.
var palette = map[string]string{
	CPingPong:     "#7f7f7f",
	CRing:         "#c7c7c7",
	Raw:           "#000000",
	QueueSpin:     "#1f77b4",
	Queue:         "#2ca02c",
	QueueNoGuard:  "#17becf",
	QueueZeroCopy: "#bcbd22",
	Sem:           "#9467bd",
	Pipe:          "#ff7f0e",
	Unix:          "#d62728",
	TCP:           "#8c564b",
}

var fallbackColours = []string{"#e377c2", "#aec7e8", "#98df8a", "#ffbb78"}

// WriteSVG draws the round-trip latency distributions of rep as one SVG
// image: a panel per message size, a curve per transport. The x axis is the
// round-trip time on a log scale; the y axis is the percentile on a "nines"
// scale (0, 90, 99, 99.9, ... %) so that the tail, where transports differ
// most, gets as much room as the median. A curve that stays to the left is
// faster; a curve that bends right at the top has a long tail.
func WriteSVG(w io.Writer, rep *Report) error {
	var sizes []int
	bySize := map[int][]Result{}
	var lo, hi uint64 = math.MaxUint64, 0
	var most uint64
	for _, r := range rep.Results {
		if r.Workload != RTT || r.Error != "" || r.Hist == nil || r.Hist.Count() == 0 {
			continue
		}
		if _, ok := bySize[r.Size]; !ok {
			sizes = append(sizes, r.Size)
		}
		bySize[r.Size] = append(bySize[r.Size], r)
		lo, hi = min(lo, r.Hist.Min()), max(hi, r.Hist.Max())
		most = max(most, r.Hist.Count())
	}
	slices.Sort(sizes)

	bw := bufio.NewWriter(w)
	height := marginTop + max(len(sizes), 1)*(panelHeight+panelGap)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, height, plotWidth, height)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="16" font-weight="bold">Round-trip latency between two processes, by transport</text>`+"\n", marginLeft)
	fmt.Fprintf(bw, `<text x="%d" y="44" fill="#555">%s; every round trip of %s per case</text>`+"\n",
		marginLeft, esc(rep.Placement.String()), esc(rep.Duration.Round(time.Millisecond).String()))
	if len(sizes) == 0 {
		fmt.Fprintf(bw, `<text x="%d" y="%d">no round-trip results to plot</text>`+"\n", marginLeft, marginTop+40)
		fmt.Fprintln(bw, "</svg>")
		return bw.Flush()
	}

	// Shared x axis: whole decades around every sample of every panel.
	xMin := math.Floor(math.Log10(float64(max(lo, 1))))
	xMax := math.Ceil(math.Log10(float64(max(hi, 1))))
	if xMax <= xMin {
		xMax = xMin + 1
	}
	// Nines: as many as the samples can support, from 2 (99 %) to 5.
	nines := math.Ceil(math.Log10(float64(most)))
	nines = min(max(nines, 2), 5)

	plotW := float64(plotWidth - marginLeft - marginRight)
	for pi, size := range sizes {
		top := float64(marginTop + pi*(panelHeight+panelGap) + 20)
		ph := float64(panelHeight - 20)
		x := func(ns uint64) float64 {
			v := math.Log10(float64(max(ns, 1)))
			return float64(marginLeft) + (v-xMin)/(xMax-xMin)*plotW
		}
		y := func(frac float64) float64 {
			n := nines
			if frac < 1 {
				n = min(-math.Log10(1-frac), nines)
			}
			return top + ph - n/nines*ph
		}
		fmt.Fprintf(bw, `<text x="%d" y="%.0f" font-size="14" font-weight="bold">%s messages</text>`+"\n", marginLeft, top-8, esc(FormatSize(size)))
		// Grid and axes.
		for d := xMin; d <= xMax; d++ {
			xd := float64(marginLeft) + (d-xMin)/(xMax-xMin)*plotW
			fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", xd, top, xd, top+ph)
			fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xd, top+ph+16, decadeLabel(int(d)))
			if d < xMax {
				for m := 2; m <= 9; m++ {
					xm := float64(marginLeft) + (d+math.Log10(float64(m))-xMin)/(xMax-xMin)*plotW
					fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", xm, top, xm, top+ph)
				}
			}
		}
		for n := 0.0; n <= nines; n++ {
			yn := top + ph - n/nines*ph
			fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", marginLeft, yn, float64(marginLeft)+plotW, yn)
			fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", marginLeft-6, yn, ninesLabel(int(n)))
		}
		fmt.Fprintf(bw, `<rect x="%d" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", marginLeft, top, plotW, ph)
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="middle">round-trip time (log scale)</text>`+"\n", float64(marginLeft)+plotW/2, top+ph+34)
		fmt.Fprintf(bw, `<text transform="translate(%d %.1f) rotate(-90)" text-anchor="middle">percentile</text>`+"\n", 22, top+ph/2)

		// Curves and the legend.
		for i, r := range bySize[size] {
			colour := colourOf(r.Transport, i)
			fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="`, colour)
			prev := 0.0
			pts := r.Hist.CDF()
			fmt.Fprintf(bw, "%.1f,%.1f", x(pts[0].Value), y(0))
			for _, p := range pts {
				fmt.Fprintf(bw, " %.1f,%.1f %.1f,%.1f", x(p.Value), y(prev), x(p.Value), y(p.Fraction))
				prev = p.Fraction
			}
			fmt.Fprintln(bw, `"/>`)
			ly := top + 14 + float64(i)*18
			lx := float64(marginLeft) + plotW + 14
			fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+20, ly, colour)
			fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s  p50 %s</text>`+"\n", lx+26, ly, esc(r.Transport), esc(FormatNS(r.P50NS)))
		}
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// decadeLabel names 10^d nanoseconds: 1ns, 10ns, 100ns, 1µs, ... 100s.
func decadeLabel(d int) string {
	units := []string{"ns", "µs", "ms", "s"}
	u := min(max(d, 0)/3, len(units)-1)
	return "1" + strings.Repeat("0", max(d, 0)-3*u) + units[u]
}

func ninesLabel(n int) string {
	switch n {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	s := "99."
	for range n - 2 {
		s += "9"
	}
	return s + "%"
}

func colourOf(transport string, i int) string {
	if c, ok := palette[transport]; ok {
		return c
	}
	return fallbackColours[i%len(fallbackColours)]
}

func esc(s string) string { return html.EscapeString(s) }

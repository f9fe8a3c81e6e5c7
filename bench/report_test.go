package bench

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{FormatNS(0), "0ns"},
		{FormatNS(431), "431ns"},
		{FormatNS(1249), "1.25µs"},
		{FormatNS(46_335), "46.3µs"},
		{FormatNS(2_686_975), "2.69ms"},
		{FormatNS(3_500_000_000), "3.50s"},
		{FormatSize(64), "64B"},
		{FormatSize(1024), "1KiB"},
		{FormatSize(1536), "1.5KiB"},
		{FormatSize(64 << 10), "64KiB"},
		{FormatSize(16 << 20), "16MiB"},
		{FormatRate(4.43e6, ""), "4.43M/s"},
		{FormatRate(18.26e9, "B"), "18.3GB/s"},
		{FormatRate(912, ""), "912/s"},
		{ratio(0), "-"},
		{ratio(1), "1.00"},
		{ratio(0.0099), "0.010"},
		{ratio(58.5), "58.5"},
		{ratio(107.4), "107"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestPlotLabels(t *testing.T) {
	decades := map[int]string{0: "1ns", 2: "100ns", 3: "1µs", 4: "10µs", 7: "10ms", 9: "1s", 11: "100s"}
	for d, want := range decades {
		if got := decadeLabel(d); got != want {
			t.Errorf("decadeLabel(%d) = %q, want %q", d, got, want)
		}
	}
	nines := map[int]string{0: "0%", 1: "90%", 2: "99%", 3: "99.9%", 5: "99.999%"}
	for n, want := range nines {
		if got := ninesLabel(n); got != want {
			t.Errorf("ninesLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

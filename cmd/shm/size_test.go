package main

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1", 1},
		{"4096", 4096},
		{"4096B", 4096},
		{"4096b", 4096},
		{"64K", 64 << 10},
		{"64k", 64 << 10},
		{"64KB", 64 << 10},
		{"64kb", 64 << 10},
		{"4KiB", 4 << 10},
		{"4kib", 4 << 10},
		{"1M", 1 << 20},
		{"1MB", 1 << 20},
		{"1MiB", 1 << 20},
		{"1G", 1 << 30},
		{"1GiB", 1 << 30},
		{"2T", 2 << 40},
		{"3P", 3 << 50},
		{"7E", 7 << 60},
		{" 64K ", 64 << 10},
		{"007", 7},
		{"9223372036854775807", math.MaxInt64},
		{"8191P", 8191 << 50},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct {
		name, in, msg string
	}{
		{"empty", "", "want a whole number"},
		{"blank", "   ", "want a whole number"},
		{"negative", "-1", "cannot be negative"},
		{"negative unit", "-4K", "cannot be negative"},
		{"plus sign", "+4K", "want a whole number"},
		{"unit only", "K", "want a whole number"},
		{"junk", "abc", "want a whole number"},
		{"junk after", "12abc", `unknown unit "abc"`},
		{"space inside", "64 K", `unknown unit " K"`},
		{"fraction", "1.5M", "fractions are not accepted"},
		{"comma fraction", "1,5M", "fractions are not accepted"},
		{"hex", "0x1000", `unknown unit "x1000"`},
		{"exponent", "1e6", `unknown unit "e6"`},
		{"bits", "1Kb!", `unknown unit "Kb!"`},
		{"kibi twice", "1KiBB", `unknown unit "KiBB"`},
		{"overflow digits", "9223372036854775808", "more than 9223372036854775807 bytes"},
		{"overflow huge", "99999999999999999999999", "more than"},
		{"overflow unit", "8E", "more than"},
		{"overflow unit 2", "8192P", "more than"},
		{"overflow unit 3", "9007199254740992K", "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if err == nil {
				t.Fatalf("parseSize(%q) = %d, want an error", tc.in, got)
			}
			if !errors.Is(err, errSizeSyntax) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("parseSize(%q) error = %q; want errSizeSyntax saying %q", tc.in, err, tc.msg)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1023, "1023"},
		{1024, "1.0K"},
		{1025, "1.1K"}, // rounded up, like ls -h
		{4096, "4.0K"},
		{10*1024 - 1, "10K"},
		{10 * 1024, "10K"},
		{64 << 10, "64K"},
		{64<<10 + 1, "65K"},
		{1023 << 10, "1023K"},
		{1<<20 - 1, "1.0M"},
		{1 << 20, "1.0M"},
		{3 << 19, "1.5M"},
		{512 << 20, "512M"},
		{1 << 30, "1.0G"},
		{1 << 40, "1.0T"},
		{1 << 50, "1.0P"},
		{1 << 60, "1.0E"},
		{math.MaxInt64, "8.0E"},
	}
	for _, tc := range tests {
		if got := formatSize(tc.in); got != tc.want {
			t.Errorf("formatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every size formatSize prints is at least the size itself, and less than
// one rounding step (a tenth or a whole unit) above it: a table never
// understates a segment.
func TestFormatSizeRoundsUp(t *testing.T) {
	for _, n := range []int64{1, 1000, 1024, 1500, 4095, 4097, 65535, 1<<20 + 1, 5<<30 - 7, 1<<62 + 3, math.MaxInt64} {
		s := formatSize(n)
		num, unit := s, ""
		if c := s[len(s)-1]; c < '0' || c > '9' {
			num, unit = s[:len(s)-1], s[len(s)-1:]
		}
		whole, frac, hasFrac := strings.Cut(num, ".")
		mul, err := parseSize("1" + unit)
		if err != nil {
			t.Fatal(err)
		}
		// shown and step in tenths of a byte
		shown := new(big.Int)
		shown.SetString(whole+frac, 10)
		step := big.NewInt(1)
		if !hasFrac {
			shown.Mul(shown, big.NewInt(10))
			step.SetInt64(10)
		}
		shown.Mul(shown, big.NewInt(mul))
		step.Mul(step, big.NewInt(mul))
		want := new(big.Int).Mul(big.NewInt(n), big.NewInt(10))
		if shown.Cmp(want) < 0 || new(big.Int).Sub(shown, want).Cmp(step) >= 0 {
			t.Errorf("formatSize(%d) = %q: not the next step up from the size", n, s)
		}
	}
}

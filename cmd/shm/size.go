package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sizes on the command line are a whole number of bytes with an optional
// binary unit: 4096, 64K, 1M, 1GiB, 2t. Every unit is a power of 1024, and
// the spellings K, KB and KiB (any case) all mean 1024 bytes, like Docker's
// --shm-size: shared memory is sized in pages, and nobody wants a 64000-byte
// segment when they type 64KB. (dd and numfmt read KB as 1000; we do not.)
// A trailing B alone means bytes. Fractions, signs other than none, spaces
// inside the number and results beyond the int64 range are refused.

// sizeUnits maps a unit, upper-cased, to its power of 1024.
var sizeUnits = map[string]uint{
	"": 0, "B": 0,
	"K": 1, "KB": 1, "KIB": 1,
	"M": 2, "MB": 2, "MIB": 2,
	"G": 3, "GB": 3, "GIB": 3,
	"T": 4, "TB": 4, "TIB": 4,
	"P": 5, "PB": 5, "PIB": 5,
	"E": 6, "EB": 6, "EIB": 6,
}

var errSizeSyntax = errors.New("invalid size")

// parseSize reads a size such as "64K" into bytes. See the comment above
// sizeUnits for the accepted forms.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	digits, unit := t[:i], strings.ToUpper(t[i:])
	switch {
	case strings.HasPrefix(t, "-"):
		return 0, fmt.Errorf("%w %q: a size cannot be negative", errSizeSyntax, s)
	case digits == "":
		return 0, fmt.Errorf("%w %q: want a whole number of bytes with an optional unit (4096, 64K, 1M, 1GiB)", errSizeSyntax, s)
	case strings.HasPrefix(unit, ".") || strings.HasPrefix(unit, ","):
		return 0, fmt.Errorf("%w %q: fractions are not accepted; use a smaller unit (1536K, not 1.5M)", errSizeSyntax, s)
	}
	shift, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%w %q: unknown unit %q (want B, K, M, G, T, P or E, optionally followed by B or iB)", errSizeSyntax, s, t[i:])
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w %q: more than %d bytes", errSizeSyntax, s, int64(math.MaxInt64))
	}
	mul := uint64(1) << (10 * shift)
	if n > math.MaxInt64/mul {
		return 0, fmt.Errorf("%w %q: more than %d bytes", errSizeSyntax, s, int64(math.MaxInt64))
	}
	return int64(n * mul), nil
}

// formatSize shows n bytes for a table the way ls -h does: plain bytes below
// 1K, one decimal below 10 units (4.0K, 1.5M), whole units above (64K, 512M),
// always rounded up so a size is never understated.
func formatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	const units = "KMGTPE"
	u := uint64(n)
	unit, i := uint64(1024), 0
	for u >= unit*1024 && i < len(units)-1 {
		unit *= 1024
		i++
	}
	for ; i < len(units); i, unit = i+1, unit*1024 {
		// tenths of a unit, rounded up; (u%unit)*10 < 10*2^60 fits in uint64.
		tenths := u/unit*10 + ceilDiv(u%unit*10, unit)
		if tenths < 100 {
			return fmt.Sprintf("%d.%d%c", tenths/10, tenths%10, units[i])
		}
		whole := u/unit + ceilDiv(u%unit, unit)
		if whole < 1024 || i == len(units)-1 {
			return fmt.Sprintf("%d%c", whole, units[i])
		}
		// Rounding up reached 1024 units: show it as 1.0 of the next unit.
	}
	return strconv.FormatInt(n, 10) // not reached
}

func ceilDiv(a, b uint64) uint64 {
	if a%b == 0 {
		return a / b
	}
	return a/b + 1
}

//go:build linux

package shm_test

import (
	"fmt"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

var benchSizes = []int{64, 4096, 1 << 20}

// benchCopy runs copyIn, which moves len(buf) bytes between buf and seg,
// once per iteration, for each of benchSizes.
func benchCopy(b *testing.B, copyIn func(seg *shm.Segment, buf []byte) error) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			seg := create(b, shmtest.Name(b, ""), int64(n))
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := copyIn(seg, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadAt measures the copy out of the mapping, including the fault
// guard (debug.SetPanicOnFault) that ReadAt sets around every copy.
func BenchmarkReadAt(b *testing.B) {
	benchCopy(b, func(seg *shm.Segment, buf []byte) error { _, err := seg.ReadAt(buf, 0); return err })
}

// BenchmarkWriteAt measures the copy into the mapping.
func BenchmarkWriteAt(b *testing.B) {
	benchCopy(b, func(seg *shm.Segment, buf []byte) error { _, err := seg.WriteAt(buf, 0); return err })
}

// BenchmarkBytesCopy is the zero-copy baseline: copy straight into Bytes().
func BenchmarkBytesCopy(b *testing.B) {
	benchCopy(b, func(seg *shm.Segment, buf []byte) error { copy(seg.Bytes(), buf); return nil })
}

// BenchmarkCreateUnlink measures making, mapping, closing and removing a
// 64 KiB object: the cost of a short-lived segment.
func BenchmarkCreateUnlink(b *testing.B) {
	name := shmtest.Name(b, "")
	b.ReportAllocs()
	for b.Loop() {
		seg, err := shm.Create(name, 64<<10)
		if err != nil {
			b.Fatal(err)
		}
		seg.Close()
		if err := shm.Unlink(name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures opening and mapping an existing 64 KiB object.
func BenchmarkOpen(b *testing.B) {
	name := shmtest.Name(b, "")
	create(b, name, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		seg, err := shm.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		seg.Close()
	}
}

//go:build !race

package lock

import "sync/atomic"

func raceKey(*atomic.Uint64) *byte { return nil }
func raceAcquire(*byte)            {}
func raceRelease(*byte)            {}

//go:build race

package queue

// raceEnabled: the race detector is on. It allocates on its own and slows
// everything down about tenfold, so the allocation test skips and the long
// multi-process runs send fewer messages.
const raceEnabled = true

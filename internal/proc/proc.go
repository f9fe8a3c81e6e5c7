// Package proc identifies processes by pid and start time, so that a pid the
// kernel has reused for another process is not taken for the original one.
package proc

// Identity names one process for its whole life: its pid and its start time
// in clock ticks since boot (field 22 of /proc/PID/stat).
type Identity struct {
	PID   int32
	Start uint64
}

// IsZero reports whether id names no process.
func (id Identity) IsZero() bool { return id.PID == 0 && id.Start == 0 }

package slip

import (
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	tests := []struct {
		name  string
		taken uint64
		spin  time.Duration
		want  time.Duration
	}{
		{"request and reply", 1, 20 * time.Microsecond, 0},
		{"nothing taken", 0, 20 * time.Microsecond, 0},
		{"stream", 2, 20 * time.Microsecond, Max},
		{"long stream", 1 << 40, time.Hour, Max},
		{"short spin", 5, time.Microsecond, time.Microsecond},
		{"no spin", 5, 0, 0},
		{"negative spin", 5, -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := For(tt.taken, tt.spin); got != tt.want {
				t.Errorf("For(%d, %v) = %v, want %v", tt.taken, tt.spin, got, tt.want)
			}
		})
	}
}

// TestWait: Wait spins for its time unless stop says to end, which it
// asks while it spins.
func TestWait(t *testing.T) {
	start := time.Now()
	if Wait(time.Minute, func() bool { return true }) {
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("a stop that says yes took %v", took)
		}
	} else {
		t.Error("a stop that says yes: Wait reports it was not stopped")
	}
	start, asked := time.Now(), 0
	if Wait(20*time.Millisecond, func() bool { asked++; return false }) || time.Since(start) < 20*time.Millisecond || asked == 0 {
		t.Errorf("a stop that says no, asked %d times: stopped early or returned after %v", asked, time.Since(start))
	}
}

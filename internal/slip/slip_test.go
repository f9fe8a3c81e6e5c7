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

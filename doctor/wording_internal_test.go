//go:build linux

package doctor

import (
	"strings"
	"testing"
)

// TestStaleWording: the stale and inspection findings agree in number with
// what they count, and the remedy quotes the directory for a shell and
// names --discard.
func TestStaleWording(t *testing.T) {
	tests := []struct {
		name string
		f    Finding
		want []string
		not  []string
	}{
		{"one stale", staleFinding("/dev/shm", 3, []string{"q"}),
			[]string{"1 stale object (every participant died without closing it)", "shm clean --force --dir /dev/shm to remove it", "--discard"}, []string{"objects"}},
		{"two stale", staleFinding("/dev/shm", 3, []string{"q", "r"}),
			[]string{"2 stale objects (every participant died without closing them)", "to remove them"}, nil},
		{"a directory with a space", staleFinding("/mnt/my shm", 3, []string{"q"}),
			[]string{"shm clean --dir '/mnt/my shm' to see it", "--force --dir '/mnt/my shm' "}, nil},
		{"one process, one object", inspectionFinding(1, []string{"a"}),
			[]string{"1 process could not be inspected, so 1 object nobody visibly uses is unknown"}, nil},
		{"two processes, no object", inspectionFinding(2, nil),
			[]string{"2 processes could not be inspected, so 0 objects nobody visibly uses are unknown"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.f.Message + "\n" + tt.f.Remedy
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(text, n) {
					t.Errorf("%q says %q", text, n)
				}
			}
		})
	}
}

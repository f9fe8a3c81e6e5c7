//go:build !linux

package inspect

import (
	"errors"
	"time"
)

func (opts *CleanOptions) remove(o Object, now time.Time) Outcome {
	return Outcome{Object: o, Action: Kept, Reason: errors.ErrUnsupported.Error()}
}

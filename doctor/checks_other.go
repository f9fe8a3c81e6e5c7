//go:build !linux

package doctor

import "runtime"

func run(opts *Options) []Finding {
	return []Finding{{Check: "platform", Severity: Problem, Message: "shared-memory checks run on Linux only, not " + runtime.GOOS}}
}

//go:build !amd64

package mem

const prefetchW = false

func prefetchWrite(p *byte, n int) {}

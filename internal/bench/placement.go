package bench

import "fmt"

// Placement says where the two processes' hot threads run.
type Placement struct {
	// Driver and Peer are the CPUs the two hot threads are pinned to, or -1
	// when they are not pinned.
	Driver, Peer int
	// SameCore is true when the two CPUs are hyper-threads of one core.
	SameCore bool
	// Available is how many CPUs this process may run on.
	Available int
}

// Pinned reports whether the two sides run on distinct, fixed CPUs.
func (p Placement) Pinned() bool { return p.Driver >= 0 && p.Peer >= 0 && p.Driver != p.Peer }

// String says where the processes run, for people.
func (p Placement) String() string {
	if !p.Pinned() {
		cpus := "CPUs"
		if p.Available == 1 {
			cpus = "CPU"
		}
		return fmt.Sprintf("not pinned (%d %s available): both processes run where the scheduler puts them", p.Available, cpus)
	}
	s := fmt.Sprintf("driver pinned to CPU %d, peer to CPU %d", p.Driver, p.Peer)
	if p.SameCore {
		s += " (hyper-threads of one core)"
	}
	return s
}

package bench

// sweepCases lists the capacity sweep's cases: none with Capacities, in a
// run without a streaming workload (a round trip uses one slot at a time)
// or without a transport that has a ring; otherwise, for each size, raw's
// stream at each of DefaultCapacities (when a Go transport has a ring) and
// c-ring's in each streaming workload of the run.
func (r *runner) sweepCases() []Case {
	streams := false
	for _, w := range r.c.workloads {
		streams = streams || w.streaming()
	}
	if r.c.capacities != nil || !streams {
		return nil
	}
	goRing, cBuilt := false, false
	for _, t := range r.c.transports {
		if _, ok := t.(sizedTransport); ok {
			if _, isC := t.(cRunner); isC {
				cBuilt = r.progs.err == nil
			} else {
				goRing = true
			}
		}
	}
	var out []Case
	for _, s := range r.c.sizes {
		for _, cp := range DefaultCapacities {
			if goRing {
				out = append(out, r.newCase(rawTransport{}, Stream, s, cp))
			}
			for _, w := range r.c.workloads {
				if cBuilt && w.streaming() {
					out = append(out, r.newCase(cRing, w, s, cp))
				}
			}
		}
	}
	return out
}

package mem

// Taking cache lines for writing ahead of the stores.
//
// A store to a line this CPU does not own waits in the store buffer until
// the line comes, and a record's stores drain one line after another: where
// the lines are cold (written a ring ago, and since evicted to the shared
// cache), a message of a few KiB that a waiting peer needs at once pays for
// much of that one line at a time. PrefetchWrite asks for all of them first
// (PREFETCHW, on amd64 CPUs that have it), so that their transfers overlap.
// In a stream that is not waited on, the request is only more instructions;
// its callers weigh that.

// PrefetchWrite asks the CPU to fetch the cache lines that b spans for
// writing, without waiting for them. It changes no memory and never
// faults: a prefetch of a page that is gone (a truncated object) is
// dropped. It does nothing on CPUs without PREFETCHW and on other
// architectures than amd64.
func PrefetchWrite(b []byte) {
	if len(b) > 0 && prefetchW {
		prefetchWrite(&b[0], len(b))
	}
}

package sem

// The layout of glibc's sem_t on 64-bit Linux (struct new_sem in
// sysdeps/nptl/internaltypes.h, the __HAVE_64B_ATOMICS variant used on
// x86_64 and arm64), drawn for a little-endian machine; on a big-endian one
// value is the half at offset 4 (glibc's SEM_VALUE_OFFSET), see offValue:
//
//	 0               4               8              12              16                              32
//	+---------------+---------------+---------------+---------------+-------------------------------+
//	|     value     |   nwaiters    |    private    |      pad      |   unused                      |
//	+---------------+---------------+---------------+---------------+-------------------------------+
//	 \______ data: one uint64 _____/
//
// data is updated only with 64-bit atomic operations, so that a post can add
// a token and learn whether anyone may be sleeping in one step:
//
//   - value (bits 0-31 of data) is the number of tokens, 0 to ValueMax. It is
//     also the futex word: a waiter sleeps on it with FUTEX_WAIT expecting 0.
//   - nwaiters (bits 32-63) counts the waits that registered themselves
//     before sleeping. It is an upper bound: a waiter killed while
//     registered is never subtracted, which only costs later posts a
//     needless wake-up call.
//   - private is glibc's futex flag argument for the semaphore. glibc's
//     encoding is inverted ("LLL_SHARED" is FUTEX_PRIVATE_FLAG, 128, which its
//     futex calls XOR away): 128 means process-shared (sem_open, sem_init
//     with pshared 1), 0 means process-private (sem_init with pshared 0).
//     Only a process-shared semaphore can be used across processes, and this
//     package always uses the shared futex operations.
//
// Transitions (every one a compare-and-swap on data, or an atomic add):
//
//	post:      value+1                  (value == ValueMax: EOVERFLOW), then
//	           FUTEX_WAKE 1 on value    if nwaiters was > 0 before the add
//	try wait:  value-1                  if value > 0
//	wait:      nwaiters+1               to register, then loop:
//	           FUTEX_WAIT value, 0      while value == 0
//	           value-1, nwaiters-1      together, when value > 0
//	give up:   nwaiters-1               on timeout or cancellation
const (
	// Size is sizeof(sem_t): the bytes a semaphore occupies in a segment,
	// and the size of a named semaphore's file.
	Size = 32

	// Align is the alignment a semaphore needs (its data word is a uint64).
	Align = 8

	// ValueMax is SEM_VALUE_MAX, the largest value a semaphore can hold.
	ValueMax = 0x7fffffff

	offData    = 0 // uint64: value | nwaiters<<32
	offPrivate = 8 // int32: privateShared or privatePrivate
	offPad     = 12

	nwaitersShift = 32
	oneWaiter     = uint64(1) << nwaitersShift

	privateShared  = 128 // glibc's FUTEX_SHARED (LLL_SHARED == FUTEX_PRIVATE_FLAG)
	privatePrivate = 0   // glibc's FUTEX_PRIVATE (LLL_PRIVATE)

	// maxWaiters bounds a believable nwaiters: no Linux system has more
	// threads than PID_MAX_LIMIT (4194304). A larger count is garbage, and
	// adding to it could carry out of the word.
	maxWaiters = 1 << 22
)

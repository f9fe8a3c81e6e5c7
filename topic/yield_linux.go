package topic

import "golang.org/x/sys/unix"

// yield gives the CPU to another thread (sched_yield), for spinners on a
// machine with fewer CPUs than runnable threads.
func yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// Package live tells whether the process that holds a role in a shared
// object is still running, for a peer in any PID namespace.
//
// A role (a queue's consumer, a producer slot, a mutex owner) is a byte of
// the object's file, locked with an open file description lock
// (F_OFD_SETLK, a write lock on one byte). The holder keeps the lock for as
// long as it plays the role; anyone asks whether the byte is locked with
// F_OFD_GETLK. Why this mechanism:
//
//   - The kernel releases the lock when the last descriptor of the open file
//     description closes, and a process's descriptors close when it dies,
//     however it dies (SIGKILL, a crash, the OOM killer). A dead holder is
//     therefore seen as dead at once, with no timeout and no pid.
//   - A lock belongs to the inode, not to a PID namespace: a peer in another
//     container that shares /dev/shm sees the same lock. A pid read from
//     shared memory means nothing there, and /proc/PID may name another
//     process or none.
//   - A lock is never inherited by an unrelated process, so a reused pid
//     cannot pass for a dead holder, and a live holder is never declared
//     dead while its descriptor is open.
//   - Exclusion comes free: a second F_OFD_SETLK on the byte fails while the
//     first holder lives, so the kernel arbitrates who takes a free role.
//   - It costs a system call only when a role is taken, given up or checked
//     (on the slow paths: opening, sleeping, recovering), never per message
//     or per uncontended lock.
//
// What it does not cover, and the callers document: a holder that forks
// without exec shares its open file description with the child, which then
// keeps the role alive until both have closed it (Go's os/exec closes every
// descriptor on exec, so only raw fork calls are affected); and anyone who
// can open the object for writing can lock its bytes, so a hostile process
// with write access can make a dead role look alive (a denial of service,
// never a corruption: such a process can write the object anyway).
//
// Locks may lie beyond the end of the file, so callers can place roles at
// offsets the layout does not use for data (see Token).
package live

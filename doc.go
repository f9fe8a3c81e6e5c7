// Package shm maps named POSIX shared memory from pure Go: the same objects
// that C's shm_open and Python's multiprocessing.shared_memory use, with no
// cgo.
//
// # Model
//
// A named object is a file in a tmpfs, /dev/shm on Linux. Its name follows
// glibc's shm_open: leading slashes are optional ("jobs" and "/jobs" both
// name /dev/shm/jobs), and the rest is 1 to 255 bytes with no '/' and no NUL,
// and not "." or ".." (which glibc would accept, and which would name the
// directory or its parent). A bad name is refused before any system call;
// see CleanName.
//
// A Segment is one mapping of an object into this process. Every process that
// maps the object shares its bytes: what one writes, the others read, with no
// copy and no system call. The object outlives the processes that map it
// until it is removed with Unlink (or by a peer's shm_unlink, or `shm rm`),
// and its memory is freed when the last mapping goes.
//
// The call sequence:
//
//	seg, created, err := shm.OpenOrCreate("jobs", 4096) // or Create, Open
//	if err != nil {
//		return err // *shm.Error: errors.Is(err, fs.ErrPermission), ErrNoSpace, ...
//	}
//	defer seg.Close()
//	seg.WriteAt([]byte("hello"), 0) // io.WriterAt; ReadAt is io.ReaderAt
//	b := seg.Bytes()                // or the mapping itself, zero-copy
//	...
//	shm.Unlink("jobs") // when no one needs the object any more
//
// Create is exclusive and OpenOrCreate reports whether it created. The new
// object appears under its name only once it has its size and mode, so a
// concurrent Open never finds it half-made. Its mode is exactly the one asked
// for (DefaultMode, 0600, unless the Mode option says otherwise), whatever the
// umask. Its space is reserved at once (fallocate), as it is by Resize, so a
// full file system is an error matching ErrNoSpace from that call, never a
// SIGBUS at some later write. A format built on segments (package queue is
// one) passes the Initialize option to write its header before the object
// gets its name, so no process ever sees it uninitialized, and a creator
// killed half-way leaves nothing behind.
//
// Options choose a read-only or a private (copy-on-write) mapping, a Window
// at a page-aligned offset, an address (AddrHint, which never replaces an
// existing mapping), Prefault, and a directory other than /dev/shm: another
// tmpfs, or a hugetlbfs mount.
//
// Opens never follow a symbolic link planted under a name, nor block on a
// FIFO, nor map anything but a regular file.
//
// Errors are *Error values that carry the operation and the name and wrap the
// cause, like *fs.PathError: errors.Is(err, fs.ErrNotExist), fs.ErrExist,
// fs.ErrPermission, ErrNoSpace, ErrInvalidName, ErrInvalid, ErrReadOnly,
// ErrClosed and ErrFault work on them.
//
// Stat and List describe the objects in the directory, and tell glibc's named
// semaphores (sem.NAME) from plain data.
//
// Shared memory gives no synchronization: processes that write it while
// others read need a protocol on top, such as the semaphores and locks of
// this module's sem and lock packages, or its queues.
//
// # Caveats
//
// The slice from Bytes is the mapping itself. It is valid until Close or
// Resize, which unmap it: touching it afterwards faults and kills the
// process. Do not keep it, or slices of it, beyond that.
//
// Another process may truncate the object while it is mapped here (ftruncate,
// or `shm resize`). ReadAt and WriteAt then return an error matching ErrFault
// and the process lives, but a direct access through Bytes to a page that is
// gone raises SIGBUS, which kills the process unless the goroutine has set
// runtime/debug.SetPanicOnFault(true), which turns it into a panic to
// recover. Packages queue and sem do this in all of their methods and
// return ErrFault; lock, like pthread mutexes in C, does not.
//
// Space is reserved only for objects this package creates or resizes. An
// object that a C program sized with ftruncate alone (as shm_open users and
// Python do) is sparse: when the file system fills up, the first touch of one
// of its pages through Bytes raises SIGBUS. WriteAt and NewWriter reserve
// the pages they write first, so they fail with ErrNoSpace and write
// nothing; ReadAt of a hole (which makes tmpfs allocate the page) returns a
// *FaultError that matches ErrFault and ErrNoSpace and says that the page
// is inside the object. NewReader reads through the descriptor instead:
// holes read as zeros and take no space. Resize to its own size reserves
// the whole object.
//
// Nothing unmaps a segment but Close: there is no finalizer, because a slice
// from Bytes may still be in use when the Segment itself is unreachable. A
// Segment that is dropped without Close keeps its mapping and descriptor
// until the process exits.
//
// Python's multiprocessing.shared_memory registers every segment it opens,
// even one it only attaches to, with its resource tracker, which unlinks them
// all when the interpreter exits, and so removes a segment that Go (or C)
// created and still uses. Python 3.13 added SharedMemory(..., track=False);
// before it, a Python peer must call
// resource_tracker.unregister(shm._name, "shared_memory") after attaching.
//
// The descriptor is close-on-exec, and a mapping never survives exec: to share
// a segment with a program it starts, pass it the name.
package shm

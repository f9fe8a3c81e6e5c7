// Package inspect tells, for each object in a shared-memory directory,
// whether it is in use, idle or stale, and removes the stale ones safely:
// what a service calls at start-up after a crash, and what "shm ls",
// "shm clean" and "shm top" show.
//
// # Classification
//
// An object's State comes with a Reason in words:
//
//   - InUse: a process maps it or holds a descriptor to it (found through
//     /proc, see shm.ScanAttachments), or its own records name a live
//     participant (a queue's consumer or producer, a topic's publisher or
//     subscriber) that may be outside this PID namespace.
//   - Idle: nobody is attached and nothing says it is dead. A plain data
//     segment or a semaphore nobody maps is idle, never stale: it may hold
//     data, or a count, for the next run. So is a queue or a topic whose
//     participants all closed it properly. A topic closed for publishing
//     is not stale by itself: its publisher finished, and a subscriber
//     may still join and read what the ring keeps before its end.
//   - Stale: nobody is attached, and its own records say every recorded
//     participant died without closing it (a queue whose consumer and
//     producers were killed, a topic whose publisher and subscribers were).
//   - Unknown: some processes could not be inspected (another user's,
//     seen without privilege) and none of those that could be is
//     attached: "nobody" cannot be said.
//
// Kinds are told by content, not by name: a queue or a topic by its
// header (packages queue and topic, whose Inspect reads it without mapping
// the object), a glibc named semaphore by its sem.NAME file (package sem);
// the rest is data, or "other" for what is not a regular file. A topic's
// participants are its publisher and the active entries of its subscriber
// table, each alive while the role lock that topic.Stat reports is held.
//
// # Cleanup
//
//	outcomes, err := inspect.Clean(ctx, &inspect.CleanOptions{Prefix: "myapp-", Force: true})
//	for _, o := range outcomes {
//		log.Print(o) // "removed myapp-jobs (queue): stale: ..." or "kept ...: in use: ..."
//	}
//
// Clean removes the stale objects that match its filters, and with Idle
// the idle ones older than OlderThan too. It never removes another user's
// object unless AllUsers is set by root, never a queue with undelivered
// messages unless Discard is set, and never an object attached at its
// final check. Without Force it removes nothing and says what it would do.
//
// A topic's messages are owed to its live subscribers only (see
// Object.Undelivered): a topic with one is in use and always kept, and a
// stale or idle topic, with no live subscriber, holds nothing undelivered,
// so Discard is not needed to remove it. The messages a History topic
// replays to a joiner are not a delivery anyone waits for.
//
// The final check closes the race with a process that opens the object by
// name while Clean works: Clean first renames the object to a hidden name
// of its own in the same directory (an atomic rename, so from then on an
// open by the name fails, or creates a new object), then checks the
// renamed file, by device and inode, once more: its kind's records, and a
// fresh scan of /proc. Only if it is still unattached and still stale (or
// idle, as asked) does Clean unlink it; otherwise it renames it back (if
// the name is still free) and keeps it. A process that opened the object
// before the rename holds it by then, and the scan that follows sees it.
//
// What remains of the window, precisely:
//
//   - An open(2) that looked up the name before the rename but installs
//     its descriptor only after the scan has read that process's
//     /proc/PID/fd: the few instructions of the kernel's open between the
//     lookup and fd_install. That process then holds an object without a
//     name.
//   - A descriptor in flight between processes (sent over a Unix socket
//     and not yet received) is in no process's table.
//   - A holder that forks and lets go of the object at once, again and
//     again, faster than /proc can be listed: the scan lists /proc up to
//     four times to catch children born while it runs.
//   - Processes in another PID namespace that share the directory are not
//     in this /proc. A queue's live participants are still seen through
//     the queue's own records; a process there that maps a data segment
//     is not, so do not pass Idle where containers share /dev/shm.
//   - While the object is renamed (for the duration of one /proc scan), an
//     open by its name fails with "no such file" (or OpenOrCreate creates
//     a new object), and when the object is kept, the new object holds the
//     name and the old one stays under its hidden name, reported as such.
//
// A scan that cannot inspect every process (not root, or a process that
// even root may not read) classifies unattached objects as Unknown, and
// Clean keeps them.
package inspect

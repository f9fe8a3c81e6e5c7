//go:build !unix

package queue

// objectStat reports failure: queues need a Unix system (and work on Linux
// only), so no object is ever open here.
func objectStat(fd int) (size int64, id objectID, ok bool) { return 0, objectID{}, false }

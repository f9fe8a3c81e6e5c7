package racehint

import "github.com/shmkit/shm/internal/objstat"

// ObjectKey returns the key of the shared object open as fd: the same for
// every handle on the object, whatever address each maps it at, since its
// device and inode stand for it (nil outside race builds).
func ObjectKey(fd int) *byte {
	if !Enabled {
		return nil
	}
	_, id, ok := objstat.Of(fd)
	if !ok {
		return Key(new(byte))
	}
	return Key(id)
}

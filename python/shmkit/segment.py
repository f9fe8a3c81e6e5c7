"""POSIX shared-memory segments: files in /dev/shm, mapped shared, the same
objects as the Go package shm (and Python's multiprocessing.shared_memory)
use."""

import mmap
import os

DEFAULT_DIR = "/dev/shm"


def _path(name, dir):
    n = name.lstrip("/")
    if not n or "/" in n or n in (".", "..") or len(n) > 255:
        raise ValueError(f"invalid name {name!r}: 1 to 255 bytes after the "
                         "leading slashes, no '/', not '.' or '..'")
    return n, os.path.join(dir or DEFAULT_DIR, n)


class Segment:
    """A named shared-memory segment; buf is a writable memoryview of it.

        with Segment.create("frame", 1 << 20) as s:
            s.buf[:5] = b"hello"
    """

    def __init__(self, fd, name, size):
        self.name = name
        self.size = size
        try:
            self._map = mmap.mmap(fd, size) if size else None
        finally:
            os.close(fd)
        self.buf = memoryview(self._map) if self._map is not None else memoryview(b"")

    @classmethod
    def create(cls, name, size, mode=0o600, dir=None):
        """Creates a segment of size bytes (zeroed); FileExistsError when
        the name is taken."""
        n, p = _path(name, dir)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            os.unlink(p)
            raise
        return cls(fd, n, size)

    @classmethod
    def open(cls, name, dir=None):
        """Opens an existing segment, mapping all of it."""
        n, p = _path(name, dir)
        fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW)
        return cls(fd, n, os.fstat(fd).st_size)

    @staticmethod
    def unlink(name, dir=None):
        """Removes the segment's name."""
        os.unlink(_path(name, dir)[1])

    def close(self):
        if self._map is not None:
            self.buf.release()
            self._map.close()
            self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""POSIX named semaphores (glibc's sem_open, through ctypes): the same
objects as the Go package sem and C programs use (/dev/shm/sem.NAME)."""

import ctypes
import ctypes.util
import os
import time

_SLICE = 0.1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = None


def _c():
    global _libc
    if _libc is None:
        names = [None, ctypes.util.find_library("c"), ctypes.util.find_library("pthread")]
        for n in names:
            try:
                l = ctypes.CDLL(n, use_errno=True)
                l.sem_open
            except (OSError, AttributeError):
                continue
            l.sem_open.restype = ctypes.c_void_p
            for f in ("sem_post", "sem_wait", "sem_trywait", "sem_timedwait",
                      "sem_getvalue", "sem_close", "sem_unlink"):
                getattr(l, f).restype = ctypes.c_int
            _libc = l
            break
        else:
            raise OSError("sem_open is not in this system's C library")
    return _libc


def _err(what, name):
    e = ctypes.get_errno()
    return OSError(e, f"{what} {name}: {os.strerror(e)}")


_SEM_FAILED = ctypes.c_void_p(0).value  # NULL; glibc's SEM_FAILED is (sem_t *)0


class Semaphore:
    """A named counting semaphore.

        s = Semaphore.create("ready", value=0)
        s.post(); s.wait(timeout=1.0); s.close(); Semaphore.unlink("ready")
    """

    def __init__(self, handle, name):
        self._h = handle
        self.name = name

    @classmethod
    def _open(cls, name, flags, mode=0o600, value=0):
        n = name.lstrip("/")
        h = _c().sem_open(("/" + n).encode(), ctypes.c_int(flags),
                          ctypes.c_uint(mode), ctypes.c_uint(value))
        if not h:
            raise _err("sem open", n)
        return cls(ctypes.c_void_p(h), n)

    @classmethod
    def open(cls, name):
        """Opens an existing semaphore."""
        return cls._open(name, 0)

    @classmethod
    def create(cls, name, value=0, mode=0o600):
        """Creates a new semaphore with the given value."""
        return cls._open(name, os.O_CREAT | os.O_EXCL, mode, value)

    @staticmethod
    def unlink(name):
        """Removes the semaphore's name."""
        n = name.lstrip("/")
        if _c().sem_unlink(("/" + n).encode()) != 0:
            raise _err("sem unlink", n)

    def post(self):
        """Adds one to the value, waking a waiter."""
        if _c().sem_post(self._h) != 0:
            raise _err("sem post", self.name)

    def try_wait(self):
        """Takes one if the value is positive; reports whether it did."""
        if _c().sem_trywait(self._h) == 0:
            return True
        if ctypes.get_errno() in (11,):  # EAGAIN
            return False
        raise _err("sem trywait", self.name)

    def wait(self, timeout=None):
        """Takes one, waiting up to timeout seconds (None: no limit);
        reports whether it did. Ctrl-C interrupts the wait."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            if left <= 0:
                return self.try_wait()
            t = time.time() + left
            ts = _Timespec(int(t), int((t - int(t)) * 1e9))
            if _c().sem_timedwait(self._h, ctypes.byref(ts)) == 0:
                return True
            e = ctypes.get_errno()
            if e not in (110, 4):  # ETIMEDOUT, EINTR: look again
                raise _err("sem wait", self.name)

    @property
    def value(self):
        """The current value."""
        v = ctypes.c_int()
        if _c().sem_getvalue(self._h, ctypes.byref(v)) != 0:
            raise _err("sem getvalue", self.name)
        return v.value

    def close(self):
        if self._h is not None:
            _c().sem_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

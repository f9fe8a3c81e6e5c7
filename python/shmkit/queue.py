"""The shm queue from Python, over libshmq (see docs/PROTOCOL.md)."""

import ctypes
import errno
import time

from . import _lib

# Error codes of shmq.h, all negative errno values.
EEMPTY = -errno.ENODATA
EFULL = -errno.ENOBUFS
EOF_ = -errno.EPIPE
ETIMEDOUT = -errno.ETIMEDOUT
EINTR = -errno.EINTR
ENOTQUEUE = -errno.EPROTO
EVERSION = -errno.EPROTONOSUPPORT
ECORRUPT = -errno.EBADMSG
EPEERDEAD = -errno.EOWNERDEAD
EBUSY = -errno.EBUSY
ETOOLARGE = -errno.EMSGSIZE
EABORTED = -errno.ECANCELED

# The longest a single library call waits: between calls Python runs its
# signal handlers, so Ctrl-C (KeyboardInterrupt) ends a wait promptly, and
# always between two calls, never inside one, which keeps the queue
# consistent.
_SLICE = 0.1


class QueueError(OSError):
    """A queue operation failed; errno is the positive errno of the code."""


class Empty(QueueError):
    """No message was ready and the call was not to wait."""


class Full(QueueError):
    """There was no room and the call was not to wait."""


class Closed(QueueError, EOFError):
    """The queue was closed for sending and every message was received."""


class Aborted(QueueError):
    """The sender aborted the stream (it is incomplete), and every message
    it sent was received."""


class Timeout(QueueError, TimeoutError):
    """The timeout passed."""


class PeerDead(QueueError):
    """The process on the other side died while this one waited for it."""


class Corrupt(QueueError):
    """A field of the queue breaks the layout's rules."""


class NotQueue(QueueError):
    """The object is not a queue, or one of another layout version."""


class Busy(QueueError):
    """Another live process holds the role (consumer, or the producer)."""


class TooLarge(QueueError, ValueError):
    """The message is longer than the queue's maximum."""


_CLASSES = {EEMPTY: Empty, EFULL: Full, EOF_: Closed, ETIMEDOUT: Timeout,
            EPEERDEAD: PeerDead, ECORRUPT: Corrupt, ENOTQUEUE: NotQueue,
            EVERSION: NotQueue, EBUSY: Busy, ETOOLARGE: TooLarge,
            EABORTED: Aborted}


def _error(rc):
    lib = _lib.lib()
    msg = (lib.shmq_last_error() or b"").decode(errors="replace")
    if not msg:
        msg = lib.shmq_strerror(rc).decode(errors="replace")
    cls = _CLASSES.get(rc)
    if cls is None and -rc == errno.ENOENT:
        return FileNotFoundError(-rc, msg)
    if cls is None and -rc == errno.EEXIST:
        return FileExistsError(-rc, msg)
    if cls is None and -rc in (errno.EACCES, errno.EPERM):
        return PermissionError(-rc, msg)
    return (cls or QueueError)(-rc, msg)


def _enc(s):
    return s.encode() if isinstance(s, str) else s


class Queue:
    """A handle on a queue. It becomes the producer with its first send and
    the consumer with its first receive. One handle per thread.

        with Queue.create("jobs", 1 << 20) as q:
            q.send(b"hello")
            print(q.receive())

    Iterating over a handle receives until the queue is closed for sending.
    """

    def __init__(self, handle, name):
        self._h = handle
        self.name = name
        lib = _lib.lib()
        self.capacity = lib.shmq_capacity(handle)
        self.max_message = lib.shmq_max_message(handle)
        self.multi_producer = bool(lib.shmq_is_multi_producer(handle))
        self._send, self._peek, self._release = (lib.shmq_send, lib.shmq_peek,
                                                 lib.shmq_release)
        self._p, self._n = ctypes.c_void_p(), ctypes.c_size_t()
        self._pp, self._pn = ctypes.byref(self._p), ctypes.byref(self._n)
        idbuf = ctypes.create_string_buffer(16)
        lib.shmq_id(handle, idbuf)
        self.id = idbuf.raw.hex()

    @classmethod
    def open(cls, name, dir=None):
        """Opens the existing queue name (in /dev/shm, or dir)."""
        h = ctypes.c_void_p()
        rc = _lib.lib().shmq_open(_enc(name), _enc(dir), ctypes.byref(h))
        if rc < 0:
            raise _error(rc)
        return cls(h, name.lstrip("/"))

    @classmethod
    def create(cls, name, capacity, max_message=0, multi_producer=False,
               mode=0o600, dir=None):
        """Creates the queue name with a ring of capacity bytes (a power of
        two) and opens it; FileExistsError when the name is taken."""
        opt = _lib.Options(max_message, 1 if multi_producer else 0, mode,
                           _enc(dir))
        h = ctypes.c_void_p()
        rc = _lib.lib().shmq_create(_enc(name), capacity, ctypes.byref(opt),
                                    ctypes.byref(h))
        if rc < 0:
            raise _error(rc)
        return cls(h, name.lstrip("/"))

    @staticmethod
    def unlink(name, dir=None):
        """Removes the queue's name; open handles keep working."""
        rc = _lib.lib().shmq_unlink(_enc(name), _enc(dir))
        if rc < 0:
            raise _error(rc)

    def _handle(self):
        if self._h is None:
            raise ValueError(f"queue {self.name}: the handle is closed")
        return self._h

    def _wait(self, call, timeout):
        """Runs call(ns) in slices until it stops timing out or waiting for
        a signal, or the timeout (seconds, None for ever) passes."""
        if timeout is not None and timeout <= 0:
            return call(0)
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            if left <= 0:
                return ETIMEDOUT
            rc = call(max(1, int(left * 1e9)))
            if rc not in (ETIMEDOUT, EINTR):
                return rc
            # A signal's Python handler (KeyboardInterrupt) runs here.

    def send(self, data, timeout=None):
        """Sends data (bytes-like) as one message, waiting for room up to
        timeout seconds (None: no limit; 0: Full at once)."""
        h = self._handle()
        if type(data) is not bytes:
            data = bytes(data)
        send = self._send
        # The common case first: room now, one library call.
        rc = send(h, data, len(data), 0)
        if rc == EFULL and (timeout is None or timeout > 0):
            rc = self._wait(lambda ns: send(h, data, len(data), ns), timeout)
        if rc < 0:
            raise _error(rc)

    def receive(self, timeout=None):
        """Returns the next message as bytes, waiting up to timeout seconds
        (None: no limit; 0: Empty at once). Raises Closed (an EOFError)
        after the last message of a queue closed for sending."""
        msg = self.peek(timeout)
        self.release()
        return msg

    def peek(self, timeout=None):
        """Returns a copy of the next message as receive does, but leaves it
        in the queue until release(): a reader that dies before releasing
        leaves it to the next reader. Peek again before release returns the
        same message."""
        h = self._handle()
        peek, p, n, pp, pn = self._peek, self._p, self._n, self._pp, self._pn
        rc = peek(h, 0, pp, pn)
        if rc == EEMPTY and (timeout is None or timeout > 0):
            rc = self._wait(lambda ns: peek(h, ns, pp, pn), timeout)
        if rc < 0:
            raise _error(rc)
        return ctypes.string_at(p.value, n.value) if n.value else b""

    def release(self):
        """Consumes the message peek returned."""
        rc = self._release(self._handle())
        if rc < 0:
            raise _error(rc)

    def __iter__(self):
        while True:
            try:
                yield self.receive()
            except Closed:
                return

    def close(self):
        """Ends the handle; a producer marks the queue closed for sending."""
        if self._h is not None:
            h, self._h = self._h, None
            _lib.lib().shmq_close(h)

    def detach(self):
        """Ends the handle without closing the queue for sending."""
        if self._h is not None:
            h, self._h = self._h, None
            _lib.lib().shmq_detach(h)

    def abort(self):
        """Ends the handle and marks the stream cut short: the consumer
        gets Aborted instead of Closed after the last message."""
        if self._h is not None:
            h, self._h = self._h, None
            _lib.lib().shmq_abort(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return (f"Queue({self.name!r}, capacity={self.capacity}, "
                f"max_message={self.max_message})")

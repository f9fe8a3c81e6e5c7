"""The shm queue from Python, over libshmq (see docs/PROTOCOL.md)."""

import ctypes
import errno
import time
from array import array

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


def _buffer(data):
    """Returns what a ctypes call takes for the bytes of data (bytes-like)
    and their number: writable contiguous buffers (bytearray, most
    memoryviews) without a copy, others as bytes."""
    m = memoryview(data)
    if m.readonly or not m.c_contiguous:
        b = m.tobytes()
        return b, len(b)
    n = m.nbytes
    return (ctypes.c_char * n).from_buffer(m.cast("B") if m.format != "B" else m), n


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
        # Each call's foreign function, out-parameters and their byref()s
        # are made once here: a ctypes call costs about a microsecond, and
        # building its arguments again would cost as much.
        self._send, self._send_packed = lib.shmq_send, lib.shmq_send_packed
        self._peek, self._peek_batch = lib.shmq_peek, lib.shmq_peek_batch
        self._release = lib.shmq_release
        self._p, self._n = ctypes.c_void_p(), ctypes.c_size_t()
        self._pp, self._pn = ctypes.byref(self._p), ctypes.byref(self._n)
        self._iov, self._iov_addr, self._iov_max = None, None, 0
        # A view of the whole ring: a peeked message, which lies whole in
        # the ring, is copied out as a slice of it (cheaper than a ctypes
        # string_at per message). Dropped when the handle ends.
        self._base = lib.shmq_ring(handle)
        self._ring = memoryview(
            (ctypes.c_char * self.capacity).from_address(self._base)).cast("B")
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
        h = self._h
        if h is None:
            self._handle()
        if type(data) is bytes:
            n = len(data)
        else:
            data, n = _buffer(data)
        send = self._send
        # The common case first: room now, one library call.
        rc = send(h, data, n, 0)
        if rc == EFULL and (timeout is None or timeout > 0):
            rc = self._wait(lambda ns: send(h, data, n, ns), timeout)
        if rc < 0:
            raise _error(rc)

    def send_batch(self, msgs, timeout=None):
        """Sends the bytes-like objects of msgs in order as separate
        messages, in one library call while there is room, waiting for room
        up to timeout seconds in all (None: no limit; 0: only what fits
        now). The consumer sees the messages of one call together, and a
        batch costs far less per message than send.

        When not all were sent, the exception (Full with timeout 0,
        Timeout, TooLarge for a message longer than max_message, and also a
        KeyboardInterrupt that ends a wait) has an attribute sent: the
        number of leading messages that were sent, each whole and in order;
        none of the others was."""
        h = self._h
        if h is None:
            self._handle()
        if not isinstance(msgs, (list, tuple)):
            msgs = list(msgs)
        data = b"".join(msgs)
        try:
            lens = array("I", map(len, msgs))
        except OverflowError:
            lens = None
        if lens is None or sum(lens) != len(data):
            # Items whose len() is not their size in bytes (an array of
            # ints, say), or of 4 GiB or more.
            sizes = [memoryview(m).nbytes for m in msgs]
            huge = next((i for i, k in enumerate(sizes) if k > 0xFFFFFFFF), None)
            if huge is not None:
                lens = array("I", sizes[:huge])
                self._send_run(h, data, lens, timeout)
                err = TooLarge(errno.EMSGSIZE,
                               f"queue send {self.name}: message too large: "
                               f"{sizes[huge]} bytes, the queue's maximum is "
                               f"{self.max_message}")
                err.sent = huge
                raise err
            lens = array("I", sizes)
        self._send_run(h, data, lens, timeout)

    def _send_run(self, h, data, lens, timeout):
        """Sends the messages that lie back to back in data, lens[i] bytes
        each; an exception gets the sent attribute of send_batch."""
        count = len(lens)
        if count == 0:
            return
        send = self._send_packed
        got = ctypes.c_size_t()
        pgot = ctypes.byref(got)
        daddr = ctypes.cast(data, ctypes.c_void_p).value
        laddr = lens.buffer_info()[0]
        sent = 0
        try:
            rc = send(h, daddr, laddr, count, 0, pgot)
            sent = got.value
            if rc == EFULL and (timeout is None or timeout > 0):
                end = None if timeout is None else time.monotonic() + timeout
                skip = sum(lens[:sent])
                while True:
                    # A signal's Python handler (KeyboardInterrupt) runs
                    # between two calls, with whole messages sent.
                    left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
                    if left <= 0:
                        rc = ETIMEDOUT
                        break
                    before = sent
                    rc = send(h, daddr + skip, laddr + 4 * sent, count - sent,
                              max(1, int(left * 1e9)), pgot)
                    sent += got.value
                    if rc not in (ETIMEDOUT, EINTR):
                        break
                    skip += sum(lens[before:sent])
            if rc < 0:
                err = _error(rc)
                err.sent = sent
                raise err
        except BaseException as e:
            if not hasattr(e, "sent"):
                e.sent = sent
            raise

    def receive(self, timeout=None):
        """Returns the next message as bytes, waiting up to timeout seconds
        (None: no limit; 0: Empty at once). Raises Closed (an EOFError)
        after the last message of a queue closed for sending."""
        h = self._h
        if h is None:
            self._handle()
        rc = self._peek(h, 0, self._pp, self._pn)
        if rc < 0:
            if rc == EEMPTY and (timeout is None or timeout > 0):
                peek, pp, pn = self._peek, self._pp, self._pn
                rc = self._wait(lambda ns: peek(h, ns, pp, pn), timeout)
            if rc < 0:
                raise _error(rc)
        off = self._p.value - self._base
        msg = self._ring[off:off + self._n.value].tobytes()
        # Released only once copied: an exception before this point (a
        # KeyboardInterrupt) leaves the message in the queue.
        rc = self._release(h)
        if rc < 0:
            raise _error(rc)
        return msg

    def receive_batch(self, limit=256, timeout=None):
        """Returns a list of the next messages, at least one and at most
        limit: it waits like receive for the first (up to timeout seconds;
        None: no limit; 0: Empty at once), then takes those already sent
        behind it without waiting. Raises Closed after the last message of
        a queue closed for sending (a batch that ends at the last message
        returns it; the next call raises). The messages stay in the queue
        until all are copied, so an exception (a KeyboardInterrupt) before
        the call returns leaves them all to the next receive."""
        h = self._h
        if h is None:
            self._handle()
        if limit < 1:
            raise ValueError(f"queue {self.name}: receive_batch limit {limit}, want at least 1")
        if limit > self._iov_max:
            # struct iovec pairs: address, length.
            self._iov = array("Q", bytes(16 * limit))
            self._iov_addr = self._iov.buffer_info()[0]
            self._iov_max = limit
        iov, pn, peek = self._iov_addr, self._pn, self._peek_batch
        rc = peek(h, 0, iov, limit, pn)
        if rc < 0:
            if rc == EEMPTY and (timeout is None or timeout > 0):
                rc = self._wait(lambda ns: peek(h, ns, iov, limit, pn), timeout)
            if rc < 0:
                raise _error(rc)
        v = self._iov[:2 * self._n.value]
        base, ring = self._base, self._ring
        msgs = [ring[p - base:p - base + n].tobytes()
                for p, n in zip(v[0::2], v[1::2])]
        rc = self._release(h)
        if rc < 0:
            raise _error(rc)
        return msgs

    def peek(self, timeout=None):
        """Returns a copy of the next message as receive does, but leaves it
        in the queue until release(): a reader that dies before releasing
        leaves it to the next reader. Peek again before release returns the
        same message."""
        h = self._handle()
        peek, pp, pn = self._peek, self._pp, self._pn
        rc = peek(h, 0, pp, pn)
        if rc == EEMPTY and (timeout is None or timeout > 0):
            rc = self._wait(lambda ns: peek(h, ns, pp, pn), timeout)
        if rc < 0:
            raise _error(rc)
        off = self._p.value - self._base
        return self._ring[off:off + self._n.value].tobytes()

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
            self._ring = None
            _lib.lib().shmq_close(h)

    def detach(self):
        """Ends the handle without closing the queue for sending."""
        if self._h is not None:
            h, self._h = self._h, None
            self._ring = None
            _lib.lib().shmq_detach(h)

    def abort(self):
        """Ends the handle and marks the stream cut short: the consumer
        gets Aborted instead of Closed after the last message."""
        if self._h is not None:
            h, self._h = self._h, None
            self._ring = None
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

"""The shm queue from Python, over libshmq (see docs/PROTOCOL.md)."""

import ctypes
import errno
import time
from array import array
from bisect import bisect_right
from itertools import accumulate

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

# send_batch joins small messages into buffers of at most this many bytes:
# large enough that a run of small messages is one library call, small
# enough that the buffer is reused from the heap and stays in cache.
_JOIN_LIMIT = 64 << 10

_BYTES_TYPES = {bytes, bytearray}


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
        self._got = ctypes.c_size_t()
        self._pgot = ctypes.byref(self._got)
        self._iov, self._iov_addr, self._iov_max = None, None, 0
        # Messages consumed from the ring by a release that an exception (a
        # KeyboardInterrupt) ended as it returned: the next receive,
        # receive_batch or peek returns them first (see _kept_after).
        self._kept = []
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
        messages, waiting for room up to timeout seconds in all (None: no
        limit; 0: only what fits now). Messages go to the library many at a
        time, joined into buffers of up to 64 KiB (a longer message goes
        alone, uncopied when it is bytes or a writable contiguous buffer
        such as a bytearray), so a batch of small messages costs far less per
        message than send; the consumer sees each such run at once.

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
        n = len(msgs)
        if n == 0:
            return
        huge = None
        if set(map(type, msgs)) <= _BYTES_TYPES:
            try:
                lens = array("I", map(len, msgs))
            except OverflowError:
                lens = None
        else:
            lens = None
        if lens is None:
            # Items whose len() is not their size in bytes (an array of
            # ints, say), or of 4 GiB or more (longer than any queue's
            # maximum: the messages before it are sent, then TooLarge).
            views = [memoryview(m) for m in msgs]
            sizes = [v.nbytes for v in views]
            if not all(v.c_contiguous for v in views):
                # A strided view (memoryview(b)[::2]) goes as send sends
                # it: as a copy of its bytes.
                msgs = [m if v.c_contiguous else v.tobytes()
                        for m, v in zip(msgs, views)]
            huge = next((i for i, k in enumerate(sizes) if k > 0xFFFFFFFF), None)
            if huge is not None:
                huge_size = sizes[huge]
                sizes, msgs, n = sizes[:huge], msgs[:huge], huge
            lens = array("I", sizes)
        block = timeout is None or timeout > 0
        end = None if timeout is None or timeout <= 0 else time.monotonic() + timeout
        sent = [0]
        try:
            total = sum(lens) if n else 0
            if n == 0:
                pass  # the first message is the one too large
            elif total <= _JOIN_LIMIT:
                self._send_run(h, msgs, lens, block, end, sent)
            else:
                ends = list(accumulate(lens))
                i = 0
                while i < n:
                    j = bisect_right(ends, ends[i] - lens[i] + _JOIN_LIMIT, i)
                    j = max(j, i + 1)
                    self._send_run(h, msgs[i:j], lens[i:j], block, end, sent)
                    i = j
        except BaseException as e:
            e.sent = sent[0]
            raise
        if huge is not None:
            err = TooLarge(errno.EMSGSIZE,
                           f"queue send {self.name}: message {huge} too large: "
                           f"{huge_size} bytes, the queue's maximum is "
                           f"{self.max_message}")
            err.sent = huge
            raise err

    def _send_run(self, h, msgs, lens, block, end, sent):
        """Sends msgs, of lens bytes each, with as few library calls as
        room allows, adding to sent[0] as messages go.

        A KeyboardInterrupt can be raised as soon as a library call
        returns, before the count the call stored in got is read; so got
        is zeroed before each call, and the handler below adds what it
        holds if the interrupt came while a call was in flight."""
        if len(msgs) == 1:
            data = msgs[0] if type(msgs[0]) is bytes else _buffer(msgs[0])[0]
        else:
            data = b"".join(msgs)
        count = len(lens)
        send, got, pgot = self._send_packed, self._got, self._pgot
        laddr = lens.buffer_info()[0]
        base, got.value = sent[0], 0
        inflight = True
        try:
            rc = send(h, data, laddr, count, 0, pgot)
            sent[0] = base + got.value
            inflight = False
            if rc == EFULL and block:
                rc = self._send_rest(h, data, lens, laddr, got.value, end, sent)
        except BaseException:
            if inflight:
                sent[0] = base + got.value
            raise
        if rc < 0:
            raise _error(rc)

    def _send_rest(self, h, data, lens, laddr, done, end, sent):
        """Sends the messages of a run from message done on, waiting for
        room in slices until end (None: no limit), and returns the last
        call's code; sent[0] counts each message sent, as in _send_run."""
        send, got, pgot = self._send_packed, self._got, self._pgot
        count = len(lens)
        daddr = ctypes.cast(data, ctypes.c_void_p).value
        skip = sum(lens[:done])
        while True:
            # Between two calls a signal's Python handler (Ctrl-C's
            # KeyboardInterrupt) runs, with whole messages sent.
            left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            if left <= 0:
                return ETIMEDOUT
            base, got.value = sent[0], 0
            inflight = True
            try:
                rc = send(h, daddr + skip, laddr + 4 * done, count - done,
                          max(1, int(left * 1e9)), pgot)
                sent[0] = base + got.value
                inflight = False
            except BaseException:
                if inflight:
                    sent[0] = base + got.value
                raise
            k = got.value
            skip += sum(lens[done:done + k])
            done += k
            if rc not in (ETIMEDOUT, EINTR):
                return rc

    def _kept_after(self, h, msgs):
        """Keeps msgs, copied out of the ring, for the next receive when an
        exception (Ctrl-C's KeyboardInterrupt, raised as soon as the
        release call returns) ended their release: release again, which
        consumes them if the first call had not, or fails harmlessly
        (nothing peeked) if it had; either way they are out of the queue
        and only these copies hold them."""
        self._release(h)
        self._kept[:0] = msgs

    def receive(self, timeout=None):
        """Returns the next message as bytes, waiting up to timeout seconds
        (None: no limit; 0: Empty at once). Raises Closed (an EOFError)
        after the last message of a queue closed for sending."""
        h = self._h
        if h is None:
            self._handle()
        if self._kept:
            # Subscripts, not calls: no KeyboardInterrupt between the two.
            msg = self._kept[0]
            del self._kept[0]
            return msg
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
        # KeyboardInterrupt) leaves the message in the queue; one as the
        # release returns keeps the copy for the next receive.
        try:
            rc = self._release(h)
        except BaseException:
            self._kept_after(h, [msg])
            raise
        if rc < 0:
            raise _error(rc)
        return msg

    def receive_batch(self, limit=1024, timeout=None, max_bytes=64 << 10):
        """Returns a list of the next messages, at least one: it waits like
        receive for the first (up to timeout seconds; None: no limit; 0:
        Empty at once), then takes those already sent behind it, without
        waiting, up to limit messages and max_bytes bytes in all (the first
        comes whatever its size; None: no byte limit). The byte bound keeps
        a batch of large messages from holding much memory at once; a batch
        of small ones is one library call. Raises Closed after the last
        message of a queue closed for sending (a batch that ends with the
        last message returns it; the next call raises).

        The messages are consumed only once all are copied: an exception (a
        KeyboardInterrupt) before the copies are done leaves them all to the
        next receive. One raised as the release of the copied messages
        returns (Ctrl-C during that call) leaves them in this handle, out
        of the queue: the next receive, receive_batch or peek of this
        handle returns them first, so none is lost while the handle is
        open."""
        h = self._h
        if h is None:
            self._handle()
        if limit < 1:
            raise ValueError(f"queue {self.name}: receive_batch limit {limit}, want at least 1")
        if max_bytes is None:
            max_bytes = 0
        elif max_bytes < 1:
            raise ValueError(f"queue {self.name}: receive_batch max_bytes {max_bytes}, want at least 1 or None")
        if self._kept:
            kept, size = self._kept, 0
            k = 0
            while k < min(limit, len(kept)) and (k == 0 or not max_bytes or size + len(kept[k]) <= max_bytes):
                size += len(kept[k])
                k += 1
            msgs = kept[:k]
            del kept[:k]
            return msgs
        if limit > self._iov_max:
            # struct iovec pairs: address, length.
            self._iov = array("Q", bytes(16 * limit))
            self._iov_addr = self._iov.buffer_info()[0]
            self._iov_max = limit
        iov, pn, peek = self._iov_addr, self._pn, self._peek_batch
        rc = peek(h, 0, iov, limit, max_bytes, pn)
        if rc < 0:
            if rc == EEMPTY and (timeout is None or timeout > 0):
                rc = self._wait(lambda ns: peek(h, ns, iov, limit, max_bytes, pn), timeout)
            if rc < 0:
                raise _error(rc)
        v = self._iov[:2 * self._n.value]
        ptrs, lens = v[0::2], v[1::2]
        base, ring = self._base, self._ring
        first, last = ptrs[0], ptrs[-1]
        if first <= last and last - first + lens[-1] <= 2 * _JOIN_LIMIT:
            # One short stretch of the ring (no wrap in between): one copy
            # out, then a bytes slice a message, cheaper than a view each.
            span = ring[first - base:last - base + lens[-1]].tobytes()
            msgs = [span[p - first:p - first + n] for p, n in zip(ptrs, lens)]
        else:
            msgs = [ring[p - base:p - base + n].tobytes()
                    for p, n in zip(ptrs, lens)]
        try:
            rc = self._release(h)
        except BaseException:
            self._kept_after(h, msgs)
            raise
        if rc < 0:
            raise _error(rc)
        return msgs

    def peek(self, timeout=None):
        """Returns a copy of the next message as receive does, but leaves it
        in the queue until release(): a reader that dies before releasing
        leaves it to the next reader. Peek again before release returns the
        same message."""
        h = self._handle()
        if self._kept:
            return self._kept[0]
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
        h = self._handle()
        if self._kept:
            del self._kept[0]
            return
        rc = self._release(h)
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

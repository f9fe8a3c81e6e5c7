"""The subscriber side of an shm topic from Python, over libshmq (see
docs/PROTOCOL.md, "Topic")."""

import ctypes
import errno
import time

from . import _lib
from .queue import (EEMPTY, EINTR, ETIMEDOUT, ETOOLARGE, _SLICE, Closed,
                    QueueError, _enc, _error)

# Codes of shmq.h for topics.
ELAGGED = -errno.EOVERFLOW
ENOTTOPIC = -errno.ENOMSG

# The buffer a handle starts with; it grows to the largest message seen.
_START_BUF = 64 << 10


class Lagged(QueueError):
    """On an overwrite topic the publisher wrote over messages this
    subscriber had not read: missed says exactly how many. The subscriber
    moved on to the oldest message still kept, which the next receive
    returns."""

    def __init__(self, missed, msg):
        super().__init__(errno.EOVERFLOW, msg)
        self.missed = missed


class NotTopic(QueueError):
    """The object is not a topic."""


def _topic_error(rc):
    if rc == ENOTTOPIC:
        msg = (_lib.lib().shmq_last_error() or b"").decode(errors="replace")
        return NotTopic(-rc, msg)
    return _error(rc)


class Topic:
    """A subscriber handle on a topic that a publisher (the Go package
    topic, or `shm topic pub`) writes. It joins the subscriber table at
    subscribe() or its first receive(), and receives every message
    published after that, in order (from the topic's first message on
    while the ring still holds it, as every subscriber does); on an overwrite topic a receive raises
    Lagged when messages were lost. One handle per thread.

        with Topic.open("prices") as t:
            t.subscribe()
            for msg in t:        # until the publisher closes the topic
                print(msg)

    Iteration ends when the publisher closes the topic and every message
    was received (receive raises Closed, an EOFError); a Lagged raised
    inside it ends that loop, and a new one goes on from the oldest kept.
    A publisher that failed part-way aborts the stream instead: after the
    last message receive raises Aborted, which iteration passes on, so a
    cut-short stream is never taken for a complete one.
    """

    def __init__(self, handle, name):
        self._h = handle
        self.name = name
        lib = _lib.lib()
        self._recv = lib.shmt_receive
        self.capacity = lib.shmt_capacity(handle)
        self.max_message = lib.shmt_max_message(handle)
        self.max_subscribers = lib.shmt_max_subscribers(handle)
        self.overwrite = bool(lib.shmt_is_overwrite(handle))
        idbuf = ctypes.create_string_buffer(16)
        lib.shmt_id(handle, idbuf)
        self.id = idbuf.raw.hex()
        self._buf = ctypes.create_string_buffer(
            max(1, min(_START_BUF, self.max_message)))
        self._n = ctypes.c_size_t()

    @classmethod
    def open(cls, name, dir=None):
        """Opens the existing topic name (in /dev/shm, or dir)."""
        h = ctypes.c_void_p()
        rc = _lib.lib().shmt_open(_enc(name), _enc(dir), ctypes.byref(h))
        if rc < 0:
            raise _topic_error(rc)
        return cls(h, name.lstrip("/"))

    def _handle(self):
        if self._h is None:
            raise ValueError(f"topic {self.name}: the handle is closed")
        return self._h

    def subscribe(self):
        """Joins now: every message published after this returns is
        received (or, on an overwrite topic, counted by a Lagged). While
        the ring still holds the topic's first message, the subscriber
        starts with it."""
        rc = _lib.lib().shmt_subscribe(self._handle())
        if rc < 0:
            raise _topic_error(rc)

    @property
    def sequence(self):
        """The number of the next message this subscriber receives."""
        return _lib.lib().shmt_sequence(self._handle())

    def _call(self, h, ns):
        while True:
            rc = self._recv(h, self._buf, len(self._buf), ctypes.byref(self._n), ns)
            if rc != ETOOLARGE or self._n.value <= len(self._buf):
                return rc
            self._buf = ctypes.create_string_buffer(self._n.value)

    def receive(self, timeout=None):
        """Returns the next message as bytes, waiting up to timeout seconds
        (None: no limit; 0: Empty at once). Raises Lagged when messages
        were written over, Closed (an EOFError) after the last message of a
        topic its publisher closed, Aborted after the last message of one
        it aborted, PeerDead when the publisher died."""
        h = self._handle()
        rc = self._call(h, 0)
        if rc == EEMPTY and (timeout is None or timeout > 0):
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                left = _SLICE if end is None else min(_SLICE, end - time.monotonic())
                if left <= 0:
                    rc = ETIMEDOUT
                    break
                rc = self._call(h, max(1, int(left * 1e9)))
                if rc not in (ETIMEDOUT, EINTR):
                    break
                # A signal's Python handler (KeyboardInterrupt) runs here.
        if rc == ELAGGED:
            lib = _lib.lib()
            raise Lagged(lib.shmt_missed(h),
                         (lib.shmq_last_error() or b"").decode(errors="replace"))
        if rc < 0:
            raise _topic_error(rc)
        return ctypes.string_at(self._buf, self._n.value)

    def __iter__(self):
        while True:
            try:
                yield self.receive()
            except Closed:
                return

    def close(self):
        """Leaves the subscriber table and ends the handle."""
        if self._h is not None:
            h, self._h = self._h, None
            _lib.lib().shmt_close(h)

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
        return (f"Topic({self.name!r}, capacity={self.capacity}, "
                f"max_message={self.max_message}, overwrite={self.overwrite})")

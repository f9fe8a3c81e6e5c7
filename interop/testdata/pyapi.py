"""The Python API's behaviour, checked from the Go tests.

  pyapi.py queue NAME    errors, timeouts, iteration and the context manager
  pyapi.py batch NAME    send_batch and receive_batch: partial batches,
                         timeouts, errors mid-batch, wrap-around with
                         checksums, a multi-producer queue
  pyapi.py sem NAME      wait on a semaphore Go posts, then post twice
  pyapi.py seg NAME      read what Go wrote in a segment, write back
  pyapi.py topic NAME    a subscriber of Go's overwrite topic: errors,
                         timeouts, one lag, iteration until the end
  pyapi.py cursors NAME  a head cursor near 2^64 over a small tail is
                         Corrupt, naming the head, for receive and send
"""

import mmap
import os
import random
import struct
import sys
import time
import zlib
from array import array

from shmkit import (Closed, Corrupt, Empty, Full, Lagged, NotTopic, Queue,
                    Segment, Semaphore, Timeout, TooLarge, Topic)


def expect(exc, f):
    try:
        f()
    except exc:
        return
    raise SystemExit(f"want {exc.__name__}")


def queue(name):
    with Queue.create(name, 4096, max_message=100) as q:
        assert q.capacity == 4096 and q.max_message == 100, q
        assert len(q.id) == 32
        expect(Empty, lambda: q.receive(timeout=0))
        t = time.monotonic()
        expect(Timeout, lambda: q.receive(timeout=0.05))
        assert time.monotonic() - t >= 0.045
        expect(TooLarge, lambda: q.send(b"x" * 101))
        expect(FileExistsError, lambda: Queue.create(name, 4096))
        with Queue.open("/" + name) as p:
            p.send(b"a")
            p.send(bytearray(b"b"))
            p.send(memoryview(b"c"))
        assert list(q) == [b"a", b"b", b"c"], "iteration"
        with Queue.open(name) as p:
            n = 0
            try:
                while True:
                    p.send(b"y" * 100, timeout=0)
                    n += 1
            except Full:
                pass
            assert n > 10, n
            for _ in range(n):
                assert q.receive(timeout=0) == b"y" * 100
            p.detach()
        expect(Empty, lambda: q.receive(timeout=0))
    Queue.unlink(name)
    expect(FileNotFoundError, lambda: Queue.open(name))
    print("ok")


def expect_sent(exc, sent, f):
    """Runs f, which must raise exc with the attribute sent == sent."""
    try:
        f()
    except exc as e:
        assert e.sent == sent, (exc.__name__, e.sent, sent)
        return
    raise SystemExit(f"want {exc.__name__}")


def crc_msg(seq, payload):
    body = struct.pack("<Q", seq) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def crc_check(m, want):
    body, (crc,) = m[:-4], struct.unpack("<I", m[-4:])
    assert zlib.crc32(body) == crc, f"message {want}: checksum"
    (seq,) = struct.unpack("<Q", body[:8])
    assert seq == want, f"message {seq}, want {want}"


def batch(name):
    try:
        batch_calls(name)
        batch_wrap(name)
        batch_multi(name + "-mp")
    finally:
        for n in (name, name + "-mp"):
            try:
                Queue.unlink(n)
            except FileNotFoundError:
                pass
    print("ok")


def batch_calls(name):
    with Queue.create(name, 4096, max_message=100) as q, Queue.open(name) as p:
        # Every bytes-like kind, empty messages and an empty batch.
        p.send_batch([])
        p.send_batch([b"a", bytearray(b"bb"), memoryview(b"ccc"), b"",
                      array("H", [1, 2]), memoryview(bytearray(b"dd"))])
        assert q.receive_batch() == [b"a", b"bb", b"ccc", b"", b"\x01\x00\x02\x00", b"dd"]
        # Whatever send takes: a strided view, alone and among others, and
        # a lone writable buffer (sent from its memory, uncopied).
        strided = memoryview(bytearray(b"abcdef"))[::2]
        p.send(strided)
        p.send_batch([strided])
        p.send_batch([b"x", strided, array("H", [3])[:]])
        p.send_batch([bytearray(b"lone")])
        assert q.receive_batch() == [b"ace", b"ace", b"x", b"ace", b"\x03\x00", b"lone"]
        # Ctrl-C as a release returns (the KeyboardInterrupt comes right
        # after the call): the messages taken are kept for the next calls.
        real = q._release

        def interrupted(h):
            rc = real(h)
            q._release = real
            raise KeyboardInterrupt

        p.send_batch([b"k1", b"k2", b"k3", b"k4", b"k5"])
        q._release = interrupted
        expect(KeyboardInterrupt, lambda: q.receive())
        assert q.receive_batch() == [b"k1"]
        q._release = interrupted
        expect(KeyboardInterrupt, lambda: q.receive_batch(limit=3))
        assert q.peek() == b"k2"
        q.release()
        assert q.receive_batch(limit=1) == [b"k3"]
        assert q.receive() == b"k4"
        assert q.peek() == b"k5", "the queue gave a kept message again"
        q.release()
        expect(Empty, lambda: q.receive(timeout=0))
        p.send_batch(iter([b"from", b"an", b"iterator"]))
        assert q.receive_batch(limit=2) == [b"from", b"an"]
        assert q.receive() == b"iterator"
        # Limits: a count, and bytes after the first.
        p.send_batch([b"%02d" % i + b"-" * 8 for i in range(10)])  # 10 bytes each
        assert len(q.receive_batch(limit=3)) == 3
        got = q.receive_batch(max_bytes=39)
        assert [m[:2] for m in got] == [b"03", b"04", b"05"], got
        got = q.receive_batch(max_bytes=1)
        assert got == [b"06--------"], got
        assert len(q.receive_batch(max_bytes=None)) == 3
        expect(ValueError, lambda: q.receive_batch(limit=0))
        expect(ValueError, lambda: q.receive_batch(max_bytes=0))
        expect(Empty, lambda: q.receive_batch(timeout=0))
        t = time.monotonic()
        expect(Timeout, lambda: q.receive_batch(timeout=0.05))
        assert time.monotonic() - t >= 0.045
        # A partial batch: timeout 0 sends what fits and says how many.
        full = [bytes([i]) * 100 for i in range(200)]  # 112-byte records
        try:
            p.send_batch(full, timeout=0)
            raise SystemExit("want Full")
        except Full as e:
            fit = e.sent
        assert 0 < fit < 200, fit
        t = time.monotonic()
        expect_sent(Timeout, 0, lambda: p.send_batch([b"x" * 100], timeout=0.05))
        assert time.monotonic() - t >= 0.045
        got = []
        while len(got) < fit:
            got += q.receive_batch(timeout=0)
        assert got == full[:fit], "the messages a partial batch sent"
        expect(Empty, lambda: q.receive_batch(timeout=0))
        # A message too long stops the batch there.
        expect_sent(TooLarge, 2, lambda: p.send_batch([b"1", b"2", b"3" * 101, b"4"]))
        assert q.receive_batch() == [b"1", b"2"]
        expect(Empty, lambda: q.receive(timeout=0))
        # A receive after a peek of a batch takes the first; a batch after
        # a peek starts with the peeked message.
        p.send_batch([b"p1", b"p2", b"p3"])
        assert q.peek() == b"p1"
        assert q.receive_batch(limit=2) == [b"p1", b"p2"]
        assert q.peek() == b"p3"
        q.release()
        # The end of a closed queue: the batch, then Closed.
        p.send_batch([b"last1", b"last2"])
        p.close()
        assert q.receive_batch() == [b"last1", b"last2"]
        expect(Closed, lambda: q.receive_batch(timeout=1))
    Queue.unlink(name)


def batch_wrap(name):
    """Random batches through a small ring, records wrapping at every
    offset: each message whole, once and in order, by its checksum."""
    rng = random.Random(11)
    with Queue.create(name, 4096, max_message=600) as q, Queue.open(name) as p:
        sent = got = 0
        while got < 20000:
            msgs = [crc_msg(sent + i, rng.randbytes(rng.randrange(589)))
                    for i in range(rng.randrange(1, 40))]
            try:
                p.send_batch(msgs, timeout=0)
                k = len(msgs)
            except Full as e:
                k = e.sent
            sent += k
            while got < sent:
                batch = q.receive_batch(limit=rng.randrange(1, 50),
                                        max_bytes=rng.choice([None, 1, 700, 5000]),
                                        timeout=0)
                for m in batch:
                    crc_check(m, got)
                    got += 1
                if rng.random() < 0.5:
                    break
        assert got == sent, (got, sent)
    Queue.unlink(name)


def batch_multi(name):
    """A multi-producer queue: two producer handles' batches interleave
    as runs, each producer's messages in order."""
    with Queue.create(name, 8192, multi_producer=True) as q, \
            Queue.open(name) as a, Queue.open(name) as b:
        want = {b"a": 0, b"b": 0}
        for r in range(300):
            a.send_batch([b"a%d" % (r * 10 + i) for i in range(10)])
            b.send_batch([b"b%d" % (r * 7 + i) for i in range(7)])
            got = []
            while len(got) < 17:
                got += q.receive_batch(timeout=10)
            for m in got:
                who, seq = m[:1], int(m[1:])
                assert seq == want[who], (m, want)
                want[who] += 1
        assert want == {b"a": 3000, b"b": 2100}, want
    Queue.unlink(name)


def sem(name):
    s = Semaphore.open(name)
    print("opened", flush=True)
    assert s.wait(timeout=30), "no post within 30 s"
    print("took", flush=True)
    s.post()
    s.post()
    s.close()
    print("posted", flush=True)


def seg(name):
    with Segment.open(name) as s:
        print(bytes(s.buf[:7]).decode(), s.size, flush=True)
        s.buf[100:111] = b"from Python"


def topic(name):
    expect(FileNotFoundError, lambda: Topic.open(name + "-missing"))
    with Queue.create(name + "-q", 4096) as q:
        expect(NotTopic, lambda: Topic.open(q.name))
        Queue.unlink(q.name)
    with Topic.open("/" + name) as t:
        assert t.overwrite and t.capacity == 1024 and len(t.id) == 32, t
        t.subscribe()
        expect(Empty, lambda: t.receive(timeout=0))
        start = time.monotonic()
        expect(Timeout, lambda: t.receive(timeout=0.05))
        assert time.monotonic() - start >= 0.045
        print("ready", flush=True)
        sys.stdin.readline()  # Go published 201 messages and closed
        try:
            t.receive()
            raise SystemExit("want Lagged")
        except Lagged as e:
            missed = e.missed
        got = list(t)
        assert got and got[-1] == b"200", got[-3:]
        assert [int(m) for m in got] == list(range(missed, 201)), (missed, got)
        assert t.sequence == 201, t.sequence
    print("ok", missed, len(got))


def cursors(name):
    bad_head = 2**64 - 8  # tail - head wraps around to a small number
    for multi in (False, True):
        with Queue.create(name, 4096, multi_producer=multi) as q:
            for _ in range(4):  # tail 288, published
                q.send(b"z" * 64, timeout=0)
            q.detach()
        fd = os.open("/dev/shm/" + name, os.O_RDWR)
        try:
            with mmap.mmap(fd, 4096) as m:
                struct.pack_into("<Q", m, 128, bad_head)
        finally:
            os.close(fd)
        with Queue.open(name) as q:
            for what, call in (("receive", lambda: q.receive(timeout=0)),
                               ("send", lambda: q.send(b"x", timeout=0))):
                try:
                    call()
                except Corrupt as e:
                    assert "head" in str(e) and str(bad_head) in str(e), (what, str(e))
                else:
                    raise SystemExit(f"multi {multi}: {what} of a queue whose head is {bad_head}: want Corrupt")
            q.detach()
        Queue.unlink(name)
    print("ok")


if __name__ == "__main__":
    {"queue": queue, "batch": batch, "sem": sem, "seg": seg,
     "topic": topic, "cursors": cursors}[sys.argv[1]](sys.argv[2])

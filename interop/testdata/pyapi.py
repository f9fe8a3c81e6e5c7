"""The Python API's behaviour, checked from the Go tests.

  pyapi.py queue NAME    errors, timeouts, iteration and the context manager
  pyapi.py sem NAME      wait on a semaphore Go posts, then post twice
  pyapi.py seg NAME      read what Go wrote in a segment, write back
  pyapi.py topic NAME    a subscriber of Go's overwrite topic: errors,
                         timeouts, one lag, iteration until the end
"""

import sys
import time

from shmkit import (Empty, Full, Lagged, NotTopic, Queue, Segment, Semaphore,
                    Timeout, TooLarge, Topic)


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


if __name__ == "__main__":
    {"queue": queue, "sem": sem, "seg": seg, "topic": topic}[sys.argv[1]](sys.argv[2])

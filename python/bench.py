"""Messages per second between two Python processes: shmkit.Queue next to
what Python programs use instead, measured by this script in one run.

    PYTHONPATH=python python3 python/bench.py [--sizes 64,65536] [--seconds 2]

For each message size and transport, a child process (started with the
"spawn" method) sends messages one at a time for about --seconds and this
process receives them; the rate counts from the first message received to
the last. Transports:

  shmkit       shmkit.Queue (a 4 MiB ring), send / receive
  mp.Queue     multiprocessing.Queue, put / get
  mp.Pipe      multiprocessing.Pipe, send_bytes / recv_bytes
  unix         a Unix stream socket pair, each message a 4-byte length and
               the bytes

The last column is the rate over multiprocessing.Queue's at the same size.
"""

import argparse
import multiprocessing as mp
import os
import socket
import struct
import sys
import time

STOP = b""  # an empty message ends a run


def _sender_shmkit(name, size, seconds):
    from shmkit import Queue
    q = Queue.open(name)
    msg = b"x" * size
    end = time.monotonic() + seconds
    n = 0
    while True:
        for _ in range(256):
            q.send(msg)
        n += 256
        if time.monotonic() >= end:
            break
    q.send(STOP)
    q.detach()


def _sender_mpqueue(q, size, seconds):
    msg = b"x" * size
    end = time.monotonic() + seconds
    while True:
        for _ in range(256):
            q.put(msg)
        if time.monotonic() >= end:
            break
    q.put(STOP)


def _sender_pipe(conn, size, seconds):
    msg = b"x" * size
    end = time.monotonic() + seconds
    while True:
        for _ in range(256):
            conn.send_bytes(msg)
        if time.monotonic() >= end:
            break
    conn.send_bytes(STOP)
    conn.close()


def _sender_unix(sock, size, seconds):
    msg = struct.pack("<I", size) + b"x" * size
    end = time.monotonic() + seconds
    while True:
        for _ in range(256):
            sock.sendall(msg)
        if time.monotonic() >= end:
            break
    sock.sendall(struct.pack("<I", 0))
    sock.close()


def _recv_exact(sock, n, buf):
    view = memoryview(buf)[:n]
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError("the sender closed the socket early")
        got += k
    return view


def _drain(next_message):
    """Receives until the empty message; returns (messages, seconds) from
    the first message to the last."""
    m = next_message()
    start = time.perf_counter()
    n = 0
    while len(m):
        n += 1
        m = next_message()
    return n, time.perf_counter() - start


def run_shmkit(ctx, size, seconds):
    from shmkit import Queue
    name = f"shmkit-bench-{os.getpid()}"
    q = Queue.create(name, 4 << 20)
    try:
        p = ctx.Process(target=_sender_shmkit, args=(name, size, seconds))
        p.start()
        n, dt = _drain(q.receive)
        p.join()
    finally:
        q.close()
        Queue.unlink(name)
    return n, dt


def run_mpqueue(ctx, size, seconds):
    q = ctx.Queue()
    p = ctx.Process(target=_sender_mpqueue, args=(q, size, seconds))
    p.start()
    n, dt = _drain(q.get)
    p.join()
    return n, dt


def run_pipe(ctx, size, seconds):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_sender_pipe, args=(w, size, seconds))
    p.start()
    w.close()
    n, dt = _drain(r.recv_bytes)
    p.join()
    return n, dt


def run_unix(ctx, size, seconds):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p = ctx.Process(target=_sender_unix, args=(b, size, seconds))
    p.start()
    b.close()
    buf = bytearray(4 + size)

    def next_message():
        (k,) = struct.unpack("<I", _recv_exact(a, 4, buf))
        return _recv_exact(a, k, buf)

    n, dt = _drain(next_message)
    p.join()
    a.close()
    return n, dt


TRANSPORTS = {"shmkit": run_shmkit, "mp.Queue": run_mpqueue,
              "mp.Pipe": run_pipe, "unix": run_unix}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64,65536",
                    help="message sizes in bytes, comma-separated")
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="how long each sender sends")
    ap.add_argument("--transports", default=",".join(TRANSPORTS),
                    help="which transports, comma-separated")
    a = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{a.seconds:g} s per case")
    print(f"{'SIZE':>7}  {'TRANSPORT':<9} {'MSG/S':>12} {'MB/S':>10} {'xMP.QUEUE':>9}")
    for size in [int(s) for s in a.sizes.split(",")]:
        rates = {}
        for t in a.transports.split(","):
            n, dt = TRANSPORTS[t](ctx, size, a.seconds)
            rates[t] = n / dt if dt > 0 else float("nan")
        base = rates.get("mp.Queue")
        for t, r in rates.items():
            ratio = f"{r / base:9.1f}" if base else f"{'-':>9}"
            print(f"{size:>7}  {t:<9} {r:12.0f} {r * size / 1e6:10.1f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

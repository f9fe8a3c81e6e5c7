"""Messages per second between two Python processes: shmkit.Queue next to
what Python programs use instead, measured by this script in one run.

    PYTHONPATH=python python3 python/bench.py [--sizes 64,65536] [--seconds 3]

For each message size and transport, a child process (started with the
"spawn" method) sends and this process receives. Every case runs the same
way: the child sends exactly N messages when told to, and the rate is N
over the time from the order to the last message received. Short rounds
first find N (growing it until a round lasts a tenth of --seconds or more),
then one round of about --seconds is measured. Transports:

  shmkit        shmkit.Queue (a 4 MiB ring), send / receive, one message a call
  shmkit-batch  the same queue, send_batch of 256 messages (or 64 KiB,
                whichever is fewer) / receive_batch(1024)
  mp.Queue      multiprocessing.Queue, put / get
  mp.Pipe       multiprocessing.Pipe, send_bytes / recv_bytes
  mp.Pipe-batch multiprocessing.Pipe, send / recv of a list of as many
                messages (pickled), the batched counterpart of shmkit-batch
  unix          a Unix stream socket pair: each message a 4-byte length and
                the bytes, sent with sendall, read through a buffered reader

The last column is the rate over multiprocessing.Queue's at the same size;
a summary line gives the ratios the benchmark's goals are stated in.

Nothing waits without bound: a round that takes far longer than planned
(ten times, and at least 30 s) is abandoned and its row says "timeout"
(the exit status is then 1); children are ended when a case ends, also on
Ctrl-C or SIGTERM; a queue's name is removed as soon as both sides have it
open, so even a killed run leaves nothing in /dev/shm.
"""

import argparse
import multiprocessing as mp
import os
import signal
import socket
import struct
import sys
import threading
import time

BATCH = 256          # messages a sender hands over at once in the batch rows,
BATCH_BYTES = 64 << 10  # or fewer, to make at most this many bytes
RECEIVE_LIMIT = 1024  # most messages receive_batch returns at once
RING = 4 << 20       # the shmkit queue's ring, in bytes


class RoundTimeout(Exception):
    """A round took far longer than planned."""


# ---- the senders, in the child ----

def _orphan_guard():
    """Ends the child when its parent is gone, whatever the child waits on."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _commands(ctrl):
    """Yields the message counts the parent orders, until it says stop."""
    ctrl.send("ready")
    while True:
        n = ctrl.recv()
        if n is None:
            return
        yield n


def _batch(size):
    """A batch of distinct messages of size bytes: BATCH of them, or as many
    as make BATCH_BYTES, whichever is fewer, so that a batch stays in the
    cache as the one message of the one-at-a-time senders does. Distinct
    objects matter: pickle writes an object that a list holds twice once."""
    k = max(1, min(BATCH, BATCH_BYTES // size))
    return [i.to_bytes(8, "little").ljust(size, b"x")[:size] for i in range(k)]


def _sender_shmkit(ctrl, name, size):
    _orphan_guard()
    from shmkit import Queue
    q = Queue.open(name)
    msg = b"x" * size
    send = q.send
    for n in _commands(ctrl):
        for _ in range(n):
            send(msg)
    q.detach()


def _sender_shmkit_batch(ctrl, name, size):
    _orphan_guard()
    from shmkit import Queue
    q = Queue.open(name)
    batch = _batch(size)
    for n in _commands(ctrl):
        full, rest = divmod(n, len(batch))
        for _ in range(full):
            q.send_batch(batch)
        if rest:
            q.send_batch(batch[:rest])
    q.detach()


def _sender_mpqueue(ctrl, q, size):
    _orphan_guard()
    msg = b"x" * size
    put = q.put
    for n in _commands(ctrl):
        for _ in range(n):
            put(msg)
    q.close()
    q.join_thread()


def _sender_pipe(ctrl, conn, size):
    _orphan_guard()
    msg = b"x" * size
    send = conn.send_bytes
    for n in _commands(ctrl):
        for _ in range(n):
            send(msg)
    conn.close()


def _sender_pipe_batch(ctrl, conn, size):
    _orphan_guard()
    batch = _batch(size)
    for n in _commands(ctrl):
        full, rest = divmod(n, len(batch))
        for _ in range(full):
            conn.send(batch)
        if rest:
            conn.send(batch[:rest])
    conn.close()


def _sender_unix(ctrl, sock, size):
    _orphan_guard()
    msg = struct.pack("<I", size) + b"x" * size
    send = sock.sendall
    for n in _commands(ctrl):
        for _ in range(n):
            send(msg)
    sock.close()


# ---- the receivers, in this process ----
#
# Each transport is a function that starts its child and returns
# (receive_n, close): receive_n(n) receives n messages and returns the
# length of the last; close releases everything the case holds.

def _shmkit(ctx, size, batched):
    from shmkit import Queue
    name = f"shmkit-bench-{os.getpid()}-{size}"
    q = Queue.create(name, RING)
    child = None
    try:
        target = _sender_shmkit_batch if batched else _sender_shmkit
        child = _Child(ctx, target, name, size)
        child.wait_ready()
    except BaseException:
        if child is not None:
            child.stop()
        q.close()
        raise
    finally:
        Queue.unlink(name)

    if batched:
        def receive_n(n):
            got, last = 0, b""
            while got < n:
                msgs = q.receive_batch(RECEIVE_LIMIT)
                got += len(msgs)
                last = msgs[-1]
            if got != n:
                raise RuntimeError(f"received {got} messages, {n} were sent")
            return len(last)
    else:
        def receive_n(n):
            receive = q.receive
            for _ in range(n - 1):
                receive()
            return len(receive())

    def close():
        child.stop()
        q.close()
    return child, receive_n, close


def run_shmkit(ctx, size):
    return _shmkit(ctx, size, False)


def run_shmkit_batch(ctx, size):
    return _shmkit(ctx, size, True)


def run_mpqueue(ctx, size):
    q = ctx.Queue()
    child = _Child(ctx, _sender_mpqueue, q, size)

    def receive_n(n):
        get = q.get
        for _ in range(n - 1):
            get()
        return len(get())

    def close():
        child.stop()
        q.close()
        q.join_thread()
    return child, receive_n, close


def _pipe(ctx, size, target, batched):
    r, w = ctx.Pipe(duplex=False)
    try:
        child = _Child(ctx, target, w, size)
    finally:
        w.close()

    if batched:
        def receive_n(n):
            got, last = 0, b""
            while got < n:
                msgs = r.recv()
                got += len(msgs)
                last = msgs[-1]
            return len(last)
    else:
        def receive_n(n):
            recv = r.recv_bytes
            for _ in range(n - 1):
                recv()
            return len(recv())

    def close():
        child.stop()
        r.close()
    return child, receive_n, close


def run_pipe(ctx, size):
    return _pipe(ctx, size, _sender_pipe, False)


def run_pipe_batch(ctx, size):
    return _pipe(ctx, size, _sender_pipe_batch, True)


def run_unix(ctx, size):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        child = _Child(ctx, _sender_unix, b, size)
    finally:
        b.close()
    f = a.makefile("rb", buffering=1 << 16)

    def read_exact(k):
        m = f.read(k)
        if len(m) != k:
            raise EOFError("the sender closed the socket early")
        return m

    def receive_n(n):
        unpack = struct.unpack
        m = b""
        for _ in range(n):
            (k,) = unpack("<I", read_exact(4))
            m = read_exact(k)
        return len(m)

    def close():
        child.stop()
        f.close()
        a.close()
    return child, receive_n, close


TRANSPORTS = {"shmkit": run_shmkit, "shmkit-batch": run_shmkit_batch,
              "mp.Queue": run_mpqueue, "mp.Pipe": run_pipe,
              "mp.Pipe-batch": run_pipe_batch, "unix": run_unix}


class _Child:
    """A sender process and its control pipe."""

    def __init__(self, ctx, target, *args):
        self.ready = False
        self.ctrl, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(theirs,) + args, daemon=True)
        self.proc.start()
        theirs.close()

    def wait_ready(self):
        if self.ready:
            return
        if not self.ctrl.poll(60):
            raise RoundTimeout("the sender did not start within 60 s")
        if self.ctrl.recv() != "ready":
            raise RuntimeError("the sender did not say ready")
        self.ready = True

    def order(self, n):
        self.ctrl.send(n)

    def stop(self):
        """Tells the child to end, and ends it if it does not at once."""
        try:
            self.ctrl.send(None)
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.ctrl.close()


def _on_alarm(signum, frame):
    raise RoundTimeout("a round took far longer than planned")


def _round(child, receive_n, n, size, limit):
    """Orders n messages and receives them; returns the seconds taken. The
    round is abandoned (RoundTimeout) after limit seconds."""
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        start = time.perf_counter()
        child.order(n)
        last = receive_n(n)
        dt = time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if last != size:
        raise RuntimeError(f"the last message has {last} bytes, want {size}")
    return dt


def measure(ctx, transport, size, seconds):
    """Returns the messages per second of one transport at one size."""
    signal.setitimer(signal.ITIMER_REAL, 90)  # the child's start
    try:
        child, receive_n, close = TRANSPORTS[transport](ctx, size)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        child.wait_ready()
        # Find n: grow it until a round lasts a tenth of the measured one.
        n, want = 1000, max(seconds / 10, 0.005)
        while True:
            dt = _round(child, receive_n, n, size, 30)
            if dt >= want:
                break
            n = int(n * min(100, max(2, 1.2 * want / max(dt, 1e-6))))
        n = max(n, int(n / dt * seconds))
        dt = _round(child, receive_n, n, size, max(30, 10 * seconds))
        return n / dt
    finally:
        close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64,65536",
                    help="message sizes in bytes, comma-separated")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="how long the measured round of each case lasts")
    ap.add_argument("--transports", default=",".join(TRANSPORTS),
                    help="which transports, comma-separated")
    a = ap.parse_args(argv)
    transports = a.transports.split(",")
    for t in transports:
        if t not in TRANSPORTS:
            ap.error(f"unknown transport {t!r}; known: {', '.join(TRANSPORTS)}")
    sizes = [int(s) for s in a.sizes.split(",")]
    for s in sizes:
        if not 1 <= s <= RING // 2 - 8:
            ap.error(f"size {s}: want 1 to {RING // 2 - 8} bytes")
    # SIGTERM ends the run as Ctrl-C does: the cases' cleanup runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGALRM, _on_alarm)
    ctx = mp.get_context("spawn")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{a.seconds:g} s per case", flush=True)
    print(f"{'SIZE':>7}  {'TRANSPORT':<13} {'MSG/S':>12} {'MB/S':>10} {'xMP.QUEUE':>9}",
          flush=True)
    failed = False
    summary = []
    for size in sizes:
        rates = {}
        for t in transports:
            try:
                rates[t] = measure(ctx, t, size, a.seconds)
            except RoundTimeout as e:
                print(f"bench: {t} at {size} B: {e}", file=sys.stderr)
                rates[t] = None
                failed = True
        base = rates.get("mp.Queue")
        for t, r in rates.items():
            if r is None:
                print(f"{size:>7}  {t:<13} {'timeout':>12} {'-':>10} {'-':>9}")
                continue
            ratio = f"{r / base:9.1f}" if base else f"{'-':>9}"
            print(f"{size:>7}  {t:<13} {r:12.0f} {r * size / 1e6:10.1f} {ratio}")
        if base:
            for t in ("shmkit", "shmkit-batch"):
                if rates.get(t):
                    summary.append(f"{size} B: {t} {rates[t] / base:.1f}x mp.Queue")
        sys.stdout.flush()
    if summary:
        print("ratios: " + "; ".join(summary) + " (goal: shmkit-batch at 64 B >= 10x)")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, after the cleanup
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)

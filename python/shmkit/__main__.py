"""python3 -m shmkit queue send NAME [MSG...] [--keep-open]
python3 -m shmkit queue recv NAME [-n N] [--follow]
python3 -m shmkit topic sub NAME [-n N] [--follow]

The same line semantics and exit statuses as `shm queue send`, `shm
queue recv` and `shm topic sub`. send sends each argument, or each line of standard input
without its newline (a carriage return before it is part of the message),
then closes the queue for sending; when it fails part-way the messages sent
stay sent and the stream is marked aborted. recv prints each message on a
line of its own: the messages waiting now, or N of them (-n), or all until
the queue is closed for sending (--follow). topic sub joins a topic's
subscribers and prints its messages the same way: what there is now (from
the topic's first message while the ring keeps it, else the history), N of
them, or all until the publisher closes the topic; on an overwrite
topic a lag prints "missed N messages" on standard error and goes on.

Exit status: 0 ok, 1 an error, 2 usage error, 4 the peer died, 5 (recv,
topic sub) the sender or publisher aborted the stream, 130 stopped by
SIGINT, SIGTERM or SIGHUP.
"""

import argparse
import signal
import sys

from .queue import Aborted, Busy, Closed, Empty, PeerDead, Queue, QueueError
from .topic import Lagged, Topic


class _Stopped(BaseException):
    pass


def _stop(signum, frame):
    raise _Stopped(signum)


def _plural(n):
    return "" if n == 1 else "s"


def _send(a):
    q = Queue.open(a.name)
    sent = 0
    try:
        if a.messages:
            for m in a.messages:
                q.send(m.encode())
                sent += 1
        else:
            for line in sys.stdin.buffer:
                if line.endswith(b"\n"):
                    line = line[:-1]
                elif not line:
                    break
                if len(line) > q.max_message:
                    raise QueueError(0, f"queue send {q.name}: a line of standard input is longer "
                                        f"than the queue's maximum message of {q.max_message} bytes")
                q.send(line)
                sent += 1
    except (QueueError, OSError, _Stopped, KeyboardInterrupt) as e:
        # The stream is cut short: the receiver must be able to tell, unless
        # another live process is the producer.
        if isinstance(e, Busy):
            q.close()
        else:
            q.abort()
        if isinstance(e, (_Stopped, KeyboardInterrupt)):
            print(f"shmkit: queue send {q.name}: stopped after {sent} message{_plural(sent)}; "
                  "the stream is marked aborted", file=sys.stderr)
            return 130
        print(f"shmkit: {e.strerror or e}", file=sys.stderr)
        return 4 if isinstance(e, PeerDead) else 1
    # What was sent stays sent; the stream is complete.
    if a.keep_open:
        q.detach()
    else:
        q.close()
    return 0


def _ended(e, op, name, got, want, closer, aborted_op, writer):
    """Report on stderr how a receiving loop ended with e, as shm's
    commands do, and return the exit status: 0 for a stream closed after
    all asked for, 1 for one closed before -n messages, 5 for an aborted
    one, 4 for a dead peer, 130 when stopped. op names the loop, closer
    what closed its stream, writer the side that may abort it."""
    if isinstance(e, Closed):
        if want > 0 and got < want:
            print(f"shmkit: {op} {name}: got {got} of {want} messages: "
                  f"the {closer}", file=sys.stderr)
            return 1
        return 0
    if isinstance(e, Aborted):
        print(f"shmkit: {aborted_op} {name}: the {writer} aborted the stream after"
              f" {got} message{_plural(got)}", file=sys.stderr)
        return 5
    if isinstance(e, PeerDead):
        print(f"shmkit: {e.strerror}; {got} message{_plural(got)} printed before", file=sys.stderr)
        return 4
    print(f"shmkit: {op} {name}: stopped after {got} message{_plural(got)}", file=sys.stderr)
    return 130


def _recv(a):
    if a.n < 0:
        print(f"shmkit: -n {a.n} is negative", file=sys.stderr)
        return 2
    q = Queue.open(a.name)
    out = sys.stdout.buffer
    got = 0
    wait = a.follow or a.n > 0
    status = 0
    try:
        while a.n == 0 or got < a.n:
            try:
                m = q.peek(timeout=0)
            except Empty:
                if not wait:
                    break
                out.flush()  # about to wait: what was printed goes out first
                m = q.peek()
            # A message leaves the queue only once it was written out: a
            # reader stopped in between leaves it to the next one.
            out.write(m)
            out.write(b"\n")
            out.flush()
            q.release()
            got += 1
    except (Closed, Aborted, PeerDead, _Stopped, KeyboardInterrupt) as e:
        status = _ended(e, "queue receive", q.name, got, a.n,
                        "queue was closed for sending", "queue receive", "sender")
    finally:
        try:
            out.flush()
        finally:
            q.close()
    return status


def _sub(a):
    if a.n < 0:
        print(f"shmkit: -n {a.n} is negative", file=sys.stderr)
        return 2
    t = Topic.open(a.name)
    out = sys.stdout.buffer
    got = 0
    wait = a.follow or a.n > 0
    status = 0
    try:
        t.subscribe()
        while a.n == 0 or got < a.n:
            try:
                try:
                    m = t.receive(timeout=0)
                except Empty:
                    if not wait:
                        break
                    out.flush()  # about to wait: what was printed goes out first
                    m = t.receive()
            except Lagged as e:
                print(f"shmkit: topic sub {t.name}: missed {e.missed} message{_plural(e.missed)}",
                      file=sys.stderr)
                continue
            out.write(m)
            out.write(b"\n")
            got += 1
    except (Closed, Aborted, PeerDead, _Stopped, KeyboardInterrupt) as e:
        status = _ended(e, "topic sub", t.name, got, a.n,
                        "topic was closed for publishing", "topic receive", "publisher")
    finally:
        try:
            out.flush()
        finally:
            t.close()
    return status


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m shmkit")
    sub = p.add_subparsers(dest="kind", required=True)
    qp = sub.add_parser("queue", help="message queues over shared memory")
    qs = qp.add_subparsers(dest="cmd", required=True)
    s = qs.add_parser("send", help="send the arguments, or one message per line of standard input")
    s.add_argument("name")
    s.add_argument("messages", nargs="*")
    s.add_argument("--keep-open", action="store_true",
                   help="do not close the queue for sending at the end")
    r = qs.add_parser("recv", help="receive messages and print them, one per line")
    r.add_argument("name")
    r.add_argument("-n", "--count", dest="n", type=int, default=0,
                   help="stop after N messages, waiting for them")
    r.add_argument("--follow", action="store_true",
                   help="keep waiting for messages until the queue is closed for sending")
    tp = sub.add_parser("topic", help="a topic's subscriber side")
    ts = tp.add_subparsers(dest="cmd", required=True)
    t = ts.add_parser("sub", help="join and print messages, one per line")
    t.add_argument("name")
    t.add_argument("-n", "--count", dest="n", type=int, default=0,
                   help="stop after N messages, waiting for them")
    t.add_argument("--follow", action="store_true",
                   help="keep waiting for messages until the topic is closed for publishing")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    try:
        return {"send": _send, "recv": _recv, "sub": _sub}[a.cmd](a)
    except (QueueError, OSError) as e:
        print(f"shmkit: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

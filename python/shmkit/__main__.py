"""python3 -m shmkit queue send NAME [MSG...] [--keep-open]
python3 -m shmkit queue recv NAME [-n N] [--follow]

The same line semantics as `shm queue send` and `shm queue recv`: send
sends each argument, or each line of standard input without its newline
(and a carriage return before it), then closes the queue for sending; recv
prints each message on a line of its own: the messages waiting now, or N
of them (-n), or all until the queue is closed for sending (--follow).
"""

import argparse
import sys

from .queue import Closed, Empty, Queue, QueueError


def _send(a):
    q = Queue.open(a.name)
    err = None
    try:
        if a.messages:
            for m in a.messages:
                q.send(m.encode())
        else:
            for line in sys.stdin.buffer:
                if line.endswith(b"\n"):
                    line = line[:-1]
                elif not line:
                    break
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > q.max_message:
                    raise QueueError(0, f"queue send {q.name}: a line of standard input is longer "
                                        f"than the queue's maximum message of {q.max_message} bytes")
                q.send(line)
    except QueueError as e:
        err = e
    finally:
        # What was sent stays sent, also after an error.
        if a.keep_open:
            q.detach()
        else:
            q.close()
    if err:
        raise err


def _recv(a):
    if a.n < 0:
        print(f"shmkit: -n {a.n} is negative", file=sys.stderr)
        return 2
    q = Queue.open(a.name)
    out = sys.stdout.buffer
    got = 0
    wait = a.follow or a.n > 0
    try:
        while a.n == 0 or got < a.n:
            try:
                m = q.receive(timeout=0)
            except Empty:
                if not wait:
                    break
                out.flush()  # about to wait: what was printed goes out first
                try:
                    m = q.receive()
                except Closed:
                    break
            except Closed:
                break
            out.write(m)
            out.write(b"\n")
            got += 1
    except KeyboardInterrupt:
        out.flush()
        q.close()
        return 0  # interrupted: what was received was printed
    out.flush()
    q.close()
    if a.n > 0 and got < a.n:
        print(f"shmkit: queue receive {q.name}: got {got} of {a.n} messages: "
              "the queue was closed for sending", file=sys.stderr)
        return 1
    return 0


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
    a = p.parse_args(argv)
    try:
        if a.cmd == "send":
            _send(a)
            return 0
        return _recv(a)
    except (QueueError, OSError) as e:
        print(f"shmkit: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

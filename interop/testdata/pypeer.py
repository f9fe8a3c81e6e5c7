"""The Python side of the interop tests, on python/shmkit.

Messages are seq (u64 little-endian), a random payload, and the CRC-32 of
both (u32 little-endian); a receiver checks the order and the checksum.

  pypeer.py send NAME COUNT SEED     send COUNT messages, then close
  pypeer.py recv NAME COUNT          receive and check COUNT, then expect the end
  pypeer.py send-batch NAME COUNT SEED   send as send does, in random batches
  pypeer.py recv-batch NAME COUNT SEED   receive as recv does, in random batches
  pypeer.py wait-recv NAME ROUNDS    receive ROUNDS messages, saying when it waits
  pypeer.py send-lines NAME TEXT...  send each TEXT, then close
  pypeer.py send-open NAME TEXT...   send each TEXT, leaving the queue open
  pypeer.py send-stdin NAME         send each line of standard input as it comes
  pypeer.py send-forever NAME        send until killed
  pypeer.py interrupt NAME           wait, take Ctrl-C, then receive once more
  pypeer.py interrupt-batch NAME     the same with receive_batch
  pypeer.py interrupt-send NAME      send_batch 200 messages into a full queue,
                                     take Ctrl-C, say how many were sent, then
                                     send "after" and close
"""

import random
import struct
import sys
import zlib

from shmkit import Closed, Queue


def make(seq, payload):
    body = struct.pack("<Q", seq) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def check(m, want):
    if len(m) < 12:
        raise SystemExit(f"bad: message {want} has {len(m)} bytes")
    body, (crc,) = m[:-4], struct.unpack("<I", m[-4:])
    (seq,) = struct.unpack("<Q", body[:8])
    if zlib.crc32(body) != crc:
        raise SystemExit(f"bad: message {want}: checksum")
    if seq != want:
        raise SystemExit(f"bad: message {seq}, want {want}")


def main():
    cmd, name = sys.argv[1], sys.argv[2]
    q = Queue.open(name)
    if cmd == "send":
        count, rng = int(sys.argv[3]), random.Random(int(sys.argv[4]))
        most = q.max_message - 12
        for s in range(count):
            q.send(make(s, rng.randbytes(rng.randrange(most + 1))))
        q.close()
        print("done", flush=True)
    elif cmd == "send-batch":
        count, rng = int(sys.argv[3]), random.Random(int(sys.argv[4]))
        most = q.max_message - 12
        s = 0
        while s < count:
            k = min(count - s, rng.randrange(1, 300))
            q.send_batch([make(s + i, rng.randbytes(rng.randrange(most + 1)))
                          for i in range(k)])
            s += k
        q.close()
        print("done", flush=True)
    elif cmd == "recv-batch":
        count, rng = int(sys.argv[3]), random.Random(int(sys.argv[4]))
        s = 0
        while s < count:
            for m in q.receive_batch(limit=rng.randrange(1, 500),
                                     max_bytes=rng.choice([None, 1, 10000, 65536]),
                                     timeout=60):
                if s == count:
                    raise SystemExit(f"bad: a message after the last: {len(m)} bytes")
                check(m, s)
                s += 1
        try:
            m = q.receive_batch(timeout=60)
            raise SystemExit(f"bad: {len(m)} messages after the last")
        except Closed:
            pass
        q.close()
        print("ok", count, flush=True)
    elif cmd == "recv":
        count = int(sys.argv[3])
        for s in range(count):
            check(q.receive(timeout=60), s)
        try:
            m = q.receive(timeout=60)
            raise SystemExit(f"bad: a message after the last: {len(m)} bytes")
        except Closed:
            pass
        q.close()
        print("ok", count, flush=True)
    elif cmd == "wait-recv":
        for _ in range(int(sys.argv[3])):
            print("waiting", flush=True)
            print("got", q.receive().decode(), flush=True)
        q.close()
    elif cmd in ("send-lines", "send-open"):
        for text in sys.argv[3:]:
            q.send(text.encode())
        if cmd == "send-open":
            q.detach()
        else:
            q.close()
    elif cmd == "send-stdin":
        for line in sys.stdin:
            q.send(line.rstrip("\n").encode())
        q.detach()
    elif cmd == "send-forever":
        rng = random.Random()
        most = q.max_message - 12
        s = 0
        while True:
            q.send(make(s, rng.randbytes(rng.randrange(most + 1))))
            if s == 100:
                print("running", flush=True)
            s += 1
    elif cmd == "interrupt":
        print("waiting", flush=True)
        try:
            m = q.receive()
            print("got before the interrupt", m, flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print("got", q.receive(timeout=60).decode(), flush=True)
        q.close()
    elif cmd == "interrupt-batch":
        print("waiting", flush=True)
        try:
            m = q.receive_batch()
            print("got before the interrupt", m, flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print("got", b" ".join(q.receive_batch(timeout=60)).decode(), flush=True)
        q.close()
    elif cmd == "interrupt-send":
        msgs = [make(s, b"p" * 100) for s in range(200)]
        print("sending", flush=True)
        try:
            q.send_batch(msgs)
            print("sent all before the interrupt", flush=True)
        except KeyboardInterrupt as e:
            print("interrupted", e.sent, flush=True)
        q.send(b"after")
        q.close()
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

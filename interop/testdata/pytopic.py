"""The Python topic subscriber of the interop tests: join, print "ready",
receive until the publisher closes the topic, check each message (an
8-byte little-endian number, the payload, the CRC-32 of both: crcMsg in
python_test.go), count lags, and print "received R missed M" (and
" aborted" after it when the publisher aborted the stream)."""

import struct
import sys
import zlib

import shmkit


def main():
    name = sys.argv[1]
    want = received = missed = 0
    end = ""
    with shmkit.Topic.open(name) as t:
        t.subscribe()
        print("ready", flush=True)
        while True:
            try:
                m = t.receive()
            except shmkit.Lagged as e:
                want += e.missed
                missed += e.missed
                continue
            except shmkit.Closed:
                break
            except shmkit.Aborted:
                end = " aborted"
                break
            if len(m) < 12 or zlib.crc32(m[:-4]) != struct.unpack_from("<I", m, len(m) - 4)[0]:
                print(f"bad message {want}: checksum")
                return 1
            seq = struct.unpack_from("<Q", m)[0]
            if seq != want or t.sequence != want + 1:
                print(f"bad message {seq}, want {want}: lost, duplicated or reordered")
                return 1
            want += 1
            received += 1
    print(f"received {received} missed {missed}{end}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""shmkit: Python peers for the shm library's objects.

- Queue: the shm queue (docs/PROTOCOL.md), through the C library in c/,
  built with gcc on first use when it is missing;
- Topic: a subscriber of an shm topic (docs/PROTOCOL.md, "Topic"), over
  the same C library;
- Semaphore: POSIX named semaphores (glibc's sem_open);
- Segment: POSIX shared-memory segments.

Standard library only. From the repository root: PYTHONPATH=python.
"""

from .queue import (Aborted, Busy, Closed, Corrupt, Empty, Full, NotQueue,
                    PeerDead, Queue, QueueError, Timeout, TooLarge)
from .segment import Segment
from .topic import Lagged, NotTopic, Topic
from .sem import Semaphore

__all__ = ["Queue", "QueueError", "Empty", "Full", "Closed", "Aborted", "Timeout",
           "PeerDead", "Corrupt", "NotQueue", "Busy", "TooLarge", "Topic", "Lagged", "NotTopic",
           "Segment",
           "Semaphore"]

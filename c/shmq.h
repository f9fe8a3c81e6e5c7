/*
 * shmq: the shm queue from C.
 *
 * A queue is a POSIX shared-memory object holding a ring of messages with
 * one consumer and one producer (or up to 64 producers in a multi-producer
 * queue). The bytes and the rules are specified in docs/PROTOCOL.md; this
 * library speaks the same protocol as the Go package
 * github.com/shmkit/shm/queue and the Python package shmkit, so the three
 * can share one queue.
 *
 * A handle becomes the queue's producer with its first send (or reserve)
 * and its consumer with its first receive (or peek); it may be both. A
 * handle is for one thread at a time: open one handle per thread. A role is
 * held by an open file description lock on the handle's descriptor (see
 * docs/PROTOCOL.md, "Roles"): a child forked without exec shares it and
 * keeps the role alive until both have closed it, so open handles after
 * fork, in the process that uses them.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and a negative errno-style code on failure: one of the SHMQ_E*
 * codes below, or the negated errno of a failed system call. shmq_strerror
 * names a code; shmq_last_error gives the calling thread's last failure in
 * full (which object, which field, which rule).
 *
 * Timeouts are in nanoseconds: a negative timeout waits without limit, 0
 * never waits (SHMQ_EFULL or SHMQ_EEMPTY instead), a positive one waits at
 * most that long (then SHMQ_ETIMEDOUT), counted from the wait's first look
 * at the clock, after its first few spins: a call that finds its message
 * or its room at once reads no clock. A signal that interrupts a sleep
 * returns SHMQ_EINTR; nothing was sent or received, and the call may be
 * made again. A consumer that finds the queue empty after taking two or
 * more messages since its last wait (it caught up with a producer in
 * mid-stream) first lets the producer run ahead for 6 µs without looking:
 * reading each record as it is written moves its cache lines between the
 * CPUs while the producer still writes them, and slows both sides. A
 * receive that follows a single message, as in request and reply, looks at
 * once.
 *
 * Everything read from the shared object is checked before it is used:
 * a damaged or hostile queue gives SHMQ_ECORRUPT (or another error), never
 * a read or write outside the mapping. One thing the library cannot catch
 * is another process shrinking the object while it is mapped: a waiting
 * call notices within about 100 ms (SHMQ_EFAULT), but a copy that touches a
 * page that is gone raises SIGBUS, as for any mapped file.
 */
#ifndef SHMQ_H
#define SHMQ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The layout version this library creates queues in (docs/PROTOCOL.md). */
#define SHMQ_LAYOUT_VERSION 2

/* Bounds of a ring's capacity, in bytes (a power of two). */
#define SHMQ_MIN_CAPACITY 64ULL
#define SHMQ_MAX_CAPACITY (1ULL << 40)

/* Error codes, all negative. */
#define SHMQ_EEMPTY (-ENODATA)            /* no message, and timeout 0 */
#define SHMQ_EFULL (-ENOBUFS)             /* no room, and timeout 0 */
#define SHMQ_EOF (-EPIPE)                 /* closed for sending and drained */
#define SHMQ_ETIMEDOUT (-ETIMEDOUT)       /* the timeout passed */
#define SHMQ_EINTR (-EINTR)               /* a signal interrupted a sleep */
#define SHMQ_ENOTQUEUE (-EPROTO)          /* the object is not a queue */
#define SHMQ_EVERSION (-EPROTONOSUPPORT)  /* a queue of another layout version */
#define SHMQ_ECORRUPT (-EBADMSG)          /* a field breaks the layout's rules */
#define SHMQ_EPEERDEAD (-EOWNERDEAD)      /* the peer waited on died */
#define SHMQ_EBUSY (-EBUSY)               /* a live process holds the role */
#define SHMQ_ETOOLARGE (-EMSGSIZE)        /* larger than the maximum message (or the buffer) */
#define SHMQ_EFAULT (-EFAULT)             /* the object was truncated under the mapping */
#define SHMQ_ESTATE (-EINPROGRESS)        /* a reserve awaits its commit, or no reserve/peek to finish */
#define SHMQ_EINVAL (-EINVAL)             /* a bad argument (name, capacity, size) */
#define SHMQ_EABORTED (-ECANCELED)        /* the sender aborted the stream, and it is drained */

typedef struct shmq shmq;

/* Options of shmq_create; zero means the default. */
typedef struct shmq_options {
	uint32_t max_message; /* largest payload; default capacity/2 - 8 */
	int multi_producer;   /* non-zero: up to 64 producers at once */
	mode_t mode;          /* permission bits; default 0600 */
	const char *dir;      /* where the object lives; default /dev/shm */
} shmq_options;

/* shmq_create makes a new queue NAME (a leading slash is allowed) with a
 * ring of capacity bytes and opens it. -EEXIST when the name is taken. */
int shmq_create(const char *name, uint64_t capacity, const shmq_options *opt, shmq **out);

/* shmq_open opens an existing queue. dir may be NULL (/dev/shm). */
int shmq_open(const char *name, const char *dir, shmq **out);

/* shmq_unlink removes the queue's name; open handles keep working. */
int shmq_unlink(const char *name, const char *dir);

/* shmq_send copies n bytes into the queue as one message. */
int shmq_send(shmq *q, const void *msg, size_t n, int64_t timeout_ns);

/* shmq_send_batch sends count messages in order, cheaper than one by one:
 * a single producer makes them visible together with one store, and in a
 * multi-producer queue a run of up to 64 that fit takes the reserve lock
 * once. *sent, if not NULL, says how many were sent, also on an error. */
int shmq_send_batch(shmq *q, const struct iovec *msgs, size_t count, int64_t timeout_ns, size_t *sent);

/* shmq_send_packed is shmq_send_batch for count messages that lie back to
 * back in data: message i is the lens[i] bytes after message i-1. It suits
 * callers that build one buffer more cheaply than an iovec array (the
 * Python binding joins its messages). */
int shmq_send_packed(shmq *q, const void *data, const uint32_t *lens, size_t count, int64_t timeout_ns, size_t *sent);

/* shmq_reserve makes room for an n-byte message and sets *buf to it, in
 * the shared ring, to be written in place and sent with shmq_commit. */
int shmq_reserve(shmq *q, size_t n, int64_t timeout_ns, void **buf);

/* shmq_commit sends the message of the last shmq_reserve. */
int shmq_commit(shmq *q);

/* shmq_receive waits for the next message and copies it to buf; *len gets
 * its length. A message longer than cap stays in the queue: the call
 * returns SHMQ_ETOOLARGE with *len set to the length needed. SHMQ_EOF
 * after the last message of a closed queue. */
int shmq_receive(shmq *q, void *buf, size_t cap, size_t *len, int64_t timeout_ns);

/* shmq_peek waits for the next message and returns it in place: *msg and
 * *len are valid until shmq_release, which consumes it. Peek again before
 * release returns the same message. */
int shmq_peek(shmq *q, int64_t timeout_ns, const void **msg, size_t *len);

/* shmq_peek_batch is shmq_peek for several messages: it waits like
 * shmq_peek for the first, then takes the messages already committed
 * behind it, without waiting, up to max messages and max_bytes bytes of
 * payload in all (the first counts but comes whatever its size; 0: no byte
 * limit), and sets msgs[i] to each in place; *count gets how many (at least 1 on success). They
 * stay valid and in the queue until shmq_release, which consumes them all.
 * A peek or a batch peek before the release replaces the one before it. */
int shmq_peek_batch(shmq *q, int64_t timeout_ns, struct iovec *msgs, size_t max, size_t max_bytes, size_t *count);

/* shmq_release consumes the message shmq_peek returned, or all those
 * shmq_peek_batch returned. */
int shmq_release(shmq *q);

/* shmq_ring is the first byte of the ring in this process's mapping; the
 * ring is shmq_capacity bytes long and every message a peek returns lies
 * whole inside it, so a caller may view the ring once and read peeked
 * messages as slices of that view (the Python binding does). Valid until
 * the handle is closed. */
const void *shmq_ring(const shmq *q);

/* shmq_close ends the handle and frees it. A producer publishes what it
 * sent, abandons an uncommitted reserve and marks the queue closed for
 * sending (multi-producer: when no other live producer is left), so the
 * consumer gets SHMQ_EOF after the last message. NULL is fine. */
int shmq_close(shmq *q);

/* shmq_detach is shmq_close without marking the queue closed. */
int shmq_detach(shmq *q);

/* shmq_abort is shmq_close for a producer whose stream is cut short: it
 * marks the queue aborted, whoever else is sending, so that the consumer
 * gets SHMQ_EABORTED instead of SHMQ_EOF after the last message. */
int shmq_abort(shmq *q);

/* Facts about an open queue. */
uint64_t shmq_capacity(const shmq *q);
uint32_t shmq_max_message(const shmq *q);
int shmq_is_multi_producer(const shmq *q);
const char *shmq_name(const shmq *q);
/* shmq_id copies the queue's 16-byte random identity to id. */
void shmq_id(const shmq *q, uint8_t id[16]);

/* shmq_strerror names an error code (SHMQ_E* or a negated errno). */
const char *shmq_strerror(int err);

/* shmq_last_error describes the calling thread's last failure in full,
 * e.g. "queue receive jobs: record at position 64 ...: length 9999, want at
 * most the maximum message 512". Empty when nothing failed yet. */
const char *shmq_last_error(void);

/* ---- Topics: the subscriber side ----
 *
 * A topic (Go package github.com/shmkit/shm/topic, docs/PROTOCOL.md,
 * "Topic") is a ring that one publisher writes and every subscriber reads
 * in full, each at its own pace. This library is a subscriber: it joins
 * the subscriber table, receives every message published after it joined
 * (and, on a topic created with a history, up to that many older ones;
 * while the ring still holds the topic's first message, everything from
 * that one on), in order, and leaves at shmt_close. On a lossless topic the publisher
 * waits for the slowest live subscriber; on an overwrite topic it never
 * waits, and a subscriber that fell more than the ring behind gets
 * SHMT_ELAGGED once, with shmt_missed saying exactly how many messages it
 * lost; the next receive returns the oldest message still kept.
 *
 * Codes, timeouts and shmq_last_error/shmq_strerror are the queue's, and
 * so is the 6 µs a subscriber that caught up in mid-stream waits before it
 * looks again. A topic whose publisher closed it gives SHMQ_EOF after its
 * last message, one whose publisher aborted it (the stream was cut short)
 * SHMQ_EABORTED; a wait on a topic whose publisher died without closing it
 * gives SHMQ_EPEERDEAD (a new publisher may take over: receive again). */

#define SHMT_LAYOUT_VERSION 1
#define SHMT_ENOTTOPIC (-ENOMSG)  /* the object is not a topic */
#define SHMT_ELAGGED (-EOVERFLOW) /* messages were written over before they were read */

typedef struct shmt shmt;

/* shmt_open opens an existing topic NAME. dir may be NULL (/dev/shm).
 * SHMT_ENOTTOPIC, SHMQ_EVERSION or SHMQ_ECORRUPT for an object that is not
 * a topic this library reads. */
int shmt_open(const char *name, const char *dir, shmt **out);

/* shmt_subscribe makes the handle a subscriber now, starting with the
 * topic's first message while the ring still holds it (a lossless topic's
 * publisher may keep it for a start grace: "shm topic pub" does, a second),
 * else with the next message published (or the topic's history). The first shmt_receive
 * subscribes a handle that has not. SHMQ_EBUSY when every entry of the
 * subscriber table is held by a live process. */
int shmt_subscribe(shmt *t);

/* shmt_receive waits for the next message and copies it to buf; *len gets
 * its length. A message longer than cap stays: SHMQ_ETOOLARGE with *len
 * set to the length needed. SHMT_ELAGGED on an overwrite topic when
 * messages were lost (see shmt_missed). SHMQ_EOF after the last message of
 * a closed topic, SHMQ_EABORTED after the last of an aborted one. */
int shmt_receive(shmt *t, void *buf, size_t cap, size_t *len, int64_t timeout_ns);

/* shmt_missed is the number of messages the last SHMT_ELAGGED counted. */
uint64_t shmt_missed(const shmt *t);

/* shmt_sequence is the number of the next message the subscriber
 * receives (messages are numbered from 0 for as long as the topic lives). */
uint64_t shmt_sequence(const shmt *t);

/* shmt_close leaves the subscriber table, ends the handle and frees it.
 * NULL is fine. */
int shmt_close(shmt *t);

/* Facts about an open topic. */
uint64_t shmt_capacity(const shmt *t);
uint32_t shmt_max_message(const shmt *t);
uint32_t shmt_max_subscribers(const shmt *t);
int shmt_is_overwrite(const shmt *t);
const char *shmt_name(const shmt *t);
void shmt_id(const shmt *t, uint8_t id[16]);

#ifdef __cplusplus
}
#endif

#endif

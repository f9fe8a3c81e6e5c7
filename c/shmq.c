/*
 * shmq: the shm queue protocol (docs/PROTOCOL.md) in C11 with Linux system
 * calls. Section numbers in comments refer to that file.
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shmq reads the queue's little-endian words natively: a little-endian CPU is required"
#endif

/* The layout (§2). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 8,
	OFF_FLAGS = 12,
	OFF_CAPACITY = 16,
	OFF_MAXMSG = 24,
	OFF_SLOTS = 28,
	OFF_ID = 32,
	ID_SIZE = 16,
	OFF_TAIL = 64,
	OFF_CONS_WAIT = 72,
	OFF_CLOSED = 76,
	OFF_HEAD = 128,
	OFF_PROD_WAIT = 136,
	OFF_LOCK = 192,
	OFF_CONSUMER = 256,
	OFF_PRODUCERS = 320,
	SLOT_SIZE = 16,
	MAX_SLOTS = 64,
	HEADER_SIZE = 4096,
	RECORD_HEADER = 8,
};

#define MAGIC 0x45554555514d4853ULL
#define FLAG_MULTI 1u

/* Record kinds and the state word (§4). */
enum { KIND_DATA = 1, KIND_PENDING = 2, KIND_WRAP = 3, KIND_SKIP = 4 };
#define KIND_SHIFT 28
#define SLOT_SHIFT 22
#define SLOT_MASK 0x3fu
#define GEN_MASK ((1u << SLOT_SHIFT) - 1)

/* Values of the closed word (§6.4). */
enum { CLOSED_OPEN = 0, CLOSED_END = 1, CLOSED_ABORTED = 2 };

/* Producer wait values (§7). */
enum { PROD_IDLE = 0, PROD_WANT_HEAD = 1, PROD_SLEEPING = 2 };

/* COLD marks a path that runs once per handle or per wait, kept out of
 * line so that the per-message path it branches off stays short. */
#define COLD __attribute__((cold, noinline))

#define NS_PER_SEC 1000000000LL
#define PEER_CHECK_NS (100 * 1000000LL)
#define HEAVY_FALLBACK_NS 1000000LL
#define SPIN_NS 20000LL
#define SLIP_NS 6000LL
#define ASK_DELAY 1024

/* An internal result of a wait on a pending record: its writer is gone. */
#define ERR_SKIP (-100000)

struct shmq {
	char name[256];
	int fd;
	uint8_t *base;
	size_t size;
	uint8_t *ring;
	uint64_t capacity, mask;
	uint32_t max_msg, slots, version;
	int multi;
	uint8_t id[ID_SIZE];
	int light;        /* publications may be release stores (§8) */
	int32_t pid;      /* this process's pid */
	uint64_t ns;      /* this process's PID namespace (0: unknown) */
	uint64_t tail_every;

	/* producer */
	int p_active, p_slot;
	uint32_t p_gen;
	uint64_t p_tail, p_pub, p_head;
	int resv;
	uint64_t resv_off, resv_end, resv_commit_off, resv_commit_hdr;
	uint32_t resv_len;
	int batching;
	uint64_t batch_off, batch_hdr;

	/* consumer */
	int c_active;
	uint32_t c_gen;
	uint64_t c_head, c_pub, c_tail, c_every;
	uint64_t c_takes, c_takes_waited; /* takes so far, and when the last wait began (see slip) */
	int peeked;
	uint64_t peek_off, peek_n, peek_all; /* peek_all: ring bytes the release consumes */
	uint32_t peek_len;
};

/* ---- errors ---- */

static _Thread_local char last_error[512];

/* A failure without details (fmt NULL: an empty or full queue for a call
 * that does not wait, the end of a stream, a timeout) is only noted, and
 * described when shmq_last_error asks: a caller that polls with a timeout
 * of 0 pays for no formatting. op is a string literal. */
static _Thread_local struct {
	int pending;
	int code;
	const char *op;
	char name[256];
} plain_error;

/* fail records a description of a failure and returns code. */
__attribute__((format(printf, 4, 5))) static int fail(int code, const char *op, const char *name, const char *fmt, ...)
{
	if (!fmt) {
		size_t len = strnlen(name, sizeof plain_error.name - 1);
		memcpy(plain_error.name, name, len);
		plain_error.name[len] = 0;
		plain_error.code = code;
		plain_error.op = op;
		plain_error.pending = 1;
		return code;
	}
	plain_error.pending = 0;
	int n = snprintf(last_error, sizeof last_error, "%s %s: ", op, name);
	if (n < 0 || (size_t)n >= sizeof last_error)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

const char *shmq_last_error(void)
{
	if (plain_error.pending) {
		plain_error.pending = 0;
		snprintf(last_error, sizeof last_error, "%s %s: %s", plain_error.op, plain_error.name, shmq_strerror(plain_error.code));
	}
	return last_error;
}

const char *shmq_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case SHMQ_EEMPTY: return "queue is empty";
	case SHMQ_EFULL: return "queue is full";
	case SHMQ_EOF: return "queue closed for sending and drained";
	case SHMQ_ETIMEDOUT: return "timed out";
	case SHMQ_EINTR: return "interrupted by a signal";
	case SHMQ_ENOTQUEUE: return "not a queue";
	case SHMQ_EVERSION: return "unsupported queue layout version";
	case SHMQ_ECORRUPT: return "queue is corrupt";
	case SHMQ_EPEERDEAD: return "peer process died";
	case SHMQ_EBUSY: return "another live process holds this role";
	case SHMQ_ETOOLARGE: return "message too large";
	case SHMQ_EFAULT: return "the object was truncated while mapped";
	case SHMQ_ESTATE: return "call out of order (a reserve awaits its commit, or nothing to commit or release)";
	case SHMQ_EABORTED: return "the sender aborted the stream";
	case SHMT_ENOTTOPIC: return "not a topic";
	case SHMT_ELAGGED: return "subscriber fell behind: messages were written over (shmt_missed says how many)";
	}
	if (err < 0)
		return strerror(-err);
	return "unknown error";
}

/* ---- shared words ---- */

static inline _Atomic uint64_t *w64(const shmq *q, size_t off) { return (_Atomic uint64_t *)(void *)(q->base + off); }
static inline _Atomic uint32_t *w32(const shmq *q, size_t off) { return (_Atomic uint32_t *)(void *)(q->base + off); }
static inline _Atomic uint64_t *rword(const shmq *q, uint64_t roff) { return (_Atomic uint64_t *)(void *)(q->ring + roff); }

static inline uint32_t rec_state(uint32_t kind, int slot, uint32_t gen) { return kind << KIND_SHIFT | (uint32_t)slot << SLOT_SHIFT | (gen & GEN_MASK); }
static inline uint32_t st_kind(uint32_t st) { return st >> KIND_SHIFT; }
static inline uint32_t st_slot(uint32_t st) { return (st >> SLOT_SHIFT) & SLOT_MASK; }
static inline uint32_t st_gen(uint32_t st) { return st & GEN_MASK; }
static inline uint64_t rec_size(uint64_t n) { return (n + RECORD_HEADER + 7) & ~7ULL; }
static inline uint64_t hdr_word(uint32_t n, uint32_t st) { return (uint64_t)n | (uint64_t)st << 32; }
static inline uint64_t claim_word(int32_t pid, uint32_t gen) { return (uint64_t)(uint32_t)pid << 32 | gen; }
static inline int32_t claim_pid(uint64_t w) { return (int32_t)(uint32_t)(w >> 32); }
static inline uint32_t claim_gen(uint64_t w) { return (uint32_t)w; }
static inline uint32_t lock_value(int slot, uint32_t gen) { return (uint32_t)(slot + 1) << 24 | (gen & 0xffffff); }
static inline size_t slot_off(int i) { return OFF_PRODUCERS + (size_t)i * SLOT_SIZE; }
static inline int is_pow2(uint64_t n) { return n && !(n & (n - 1)); }

static uint64_t max_message_for(uint64_t capacity)
{
	uint64_t m = capacity / 2 - RECORD_HEADER;
	return m > (1ULL << 31) ? 1ULL << 31 : m;
}

/* publish stores a word that hands data to the other side (§8). */
static inline void publish64(shmq *q, _Atomic uint64_t *w, uint64_t v)
{
	if (q->light)
		atomic_store_explicit(w, v, memory_order_release);
	else
		atomic_store(w, v);
}

static inline void unlock_reserve(shmq *q)
{
	if (q->light)
		atomic_store_explicit(w32(q, OFF_LOCK), 0, memory_order_release);
	else
		atomic_store(w32(q, OFF_LOCK), 0);
}

/* ---- copying messages ---- */

/* copy_msg copies a message into or out of the ring. glibc's memcpy moves
 * a large block with REP MOVSB on x86-64, and on an AMD EPYC VM (Zen 3/4)
 * that moved 64 KiB messages out of a ring being filled on the other CPU
 * several times slower than a loop of vector loads and stores. So on
 * x86-64 a message of COPY_LOOP bytes or more goes through copy_sse2 or,
 * where the CPU has it, copy_avx2: each aligns the destination first,
 * then moves 128 bytes a turn. AMD's Zen 5 (family 0x1A) is the
 * exception from COPY_STRING bytes on: there REP MOVSB writes whole lines
 * without first fetching them from the CPU that last read them, and made
 * a 64 KiB stream between CPUs that share no cache about three times as
 * fast, as the Go library copies too (internal/mem/copy.go). */
#define COPY_LOOP 1024
#define COPY_STRING (32 * 1024)

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void copy_avx2(unsigned char *d, const unsigned char *s, size_t n)
{
	for (; n >= 128; d += 128, s += 128, n -= 128)
		for (int k = 0; k < 128; k += 32)
			_mm256_store_si256((__m256i *)(void *)(d + k), _mm256_loadu_si256((const __m256i *)(const void *)(s + k)));
	memcpy(d, s, n);
}

static void copy_sse2(unsigned char *d, const unsigned char *s, size_t n)
{
	for (; n >= 128; d += 128, s += 128, n -= 128)
		for (int k = 0; k < 128; k += 16)
			_mm_store_si128((__m128i *)(void *)(d + k), _mm_loadu_si128((const __m128i *)(const void *)(s + k)));
	memcpy(d, s, n);
}

/* rep_movsb_fast reports whether the CPU is an AMD one of family 0x1A or
 * later with ERMS (CPUID leaf 7, EBX bit 9), where copy_msg moves blocks
 * of COPY_STRING bytes or more with REP MOVSB. */
static int rep_movsb_fast(void)
{
	unsigned int max = 0, a = 0, b = 0, c = 0, d = 0;
	if (!__get_cpuid(0, &max, &b, &c, &d) || b != 0x68747541 || d != 0x69746e65 || c != 0x444d4163 || max < 7)
		return 0; /* not "AuthenticAMD" */
	__get_cpuid(1, &a, &b, &c, &d);
	unsigned int family = a >> 8 & 0xf;
	if (family == 0xf)
		family += a >> 20 & 0xff;
	__get_cpuid_count(7, 0, &a, &b, &c, &d);
	return family >= 0x1a && (b & 1u << 9) != 0;
}

/* use_rep_movsb is rep_movsb_fast, asked once: -1 until then. */
static atomic_int use_rep_movsb = -1;

static void copy_msg(void *dst, const void *src, size_t n)
{
	if (n < COPY_LOOP) {
		memcpy(dst, src, n);
		return;
	}
	if (n >= COPY_STRING) {
		int fast = atomic_load_explicit(&use_rep_movsb, memory_order_relaxed);
		if (fast < 0) {
			fast = rep_movsb_fast();
			atomic_store_explicit(&use_rep_movsb, fast, memory_order_relaxed);
		}
		if (fast) {
			__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
			return;
		}
	}
	unsigned char *d = dst;
	const unsigned char *s = src;
	size_t head = (32 - ((uintptr_t)d & 31)) & 31; /* to a 32-byte aligned destination */
	memcpy(d, s, head);
	if (__builtin_cpu_supports("avx2"))
		copy_avx2(d + head, s + head, n - head);
	else
		copy_sse2(d + head, s + head, n - head);
}
#else
static void copy_msg(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
#endif

/* ---- system calls ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* futex_wait sleeps while *w == val, at most ns; -EINTR on a signal. */
static int futex_wait(_Atomic uint32_t *w, uint32_t val, int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / NS_PER_SEC, .tv_nsec = ns % NS_PER_SEC};
	if (syscall(SYS_futex, (void *)w, FUTEX_WAIT, val, &ts, NULL, 0) < 0 && errno == EINTR)
		return -EINTR;
	return 0;
}

static void futex_wake_all(_Atomic uint32_t *w) { syscall(SYS_futex, (void *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

#ifndef MEMBARRIER_CMD_GLOBAL_EXPEDITED
#define MEMBARRIER_CMD_QUERY 0
#define MEMBARRIER_CMD_GLOBAL_EXPEDITED (1 << 1)
#define MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED (1 << 2)
#endif

static int heavy(void)
{
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0) == 0 ? 0 : -errno;
#else
	return -ENOSYS;
#endif
}

/* asymmetric registers the process for the waiters' membarrier and
 * reports whether release-only publications are allowed (§8). */
static int asymmetric(void)
{
	static atomic_int state; /* 0 unknown, 1 yes, 2 no */
	int s = atomic_load(&state);
	if (s)
		return s == 1;
	s = 2;
#ifdef SYS_membarrier
	long r = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
	if (r >= 0 && (r & MEMBARRIER_CMD_GLOBAL_EXPEDITED) && (r & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0) == 0 && heavy() == 0)
		s = 1;
#endif
	atomic_store(&state, s);
	return s == 1;
}

/* ---- identities and liveness (§6) ---- */

static uint64_t pid_namespace(void)
{
	struct stat st;
	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* own_role reports whether the slot at off is a role this handle plays. */
static int own_role(const shmq *q, size_t off)
{
	return (q->c_active && off == OFF_CONSUMER) || (q->p_active && off == slot_off(q->p_slot));
}

/* held reports whether a live process holds the role at off: this handle,
 * or another open file description with a write lock on the role byte
 * (§6). An error of the lock call counts as held: nothing is taken from a
 * peer that cannot be proven dead. */
static int held(shmq *q, size_t off)
{
	if (own_role(q, off))
		return 1;
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	if (fcntl(q->fd, F_OFD_GETLK, &lk) < 0)
		return 1;
	return lk.l_type == F_WRLCK;
}

/* claim takes the role at off: it locks the role byte, then writes the
 * namespace and claim words, and returns the new generation in *gen. A
 * claim word that says free under a held lock is a process between the
 * steps of a claim or a give-up: claim looks again for up to 10 ms. */
static int claim(shmq *q, size_t off, uint32_t *gen)
{
	_Atomic uint64_t *cw = w64(q, off);
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	for (int i = 0;; i++) {
		if (fcntl(q->fd, F_OFD_SETLK, &lk) == 0)
			break;
		if (errno != EAGAIN && errno != EACCES)
			return -errno;
		if (claim_pid(atomic_load(cw)) != 0 || i == 100)
			return SHMQ_EBUSY;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	uint32_t g = claim_gen(atomic_load(cw)) + 1;
	atomic_store(w64(q, off + 8), q->ns);
	atomic_store(cw, claim_word(q->pid, g));
	*gen = g;
	return 0;
}

/* give_up clears the claim of generation gen, then unlocks the role byte. */
static void give_up(shmq *q, size_t off, uint32_t gen)
{
	uint64_t w = claim_word(q->pid, gen);
	atomic_compare_exchange_strong(w64(q, off), &w, claim_word(0, gen));
	struct flock lk = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	fcntl(q->fd, F_OFD_SETLK, &lk);
}

/* claimant describes the holder of the role at off for a message. */
static const char *claimant(shmq *q, size_t off, char *buf, size_t size)
{
	int32_t pid = claim_pid(atomic_load(w64(q, off)));
	uint64_t ns = atomic_load(w64(q, off + 8));
	if (ns == 0 || q->ns == 0)
		snprintf(buf, size, "pid %d, PID namespace unknown", (int)pid);
	else if (ns != q->ns)
		snprintf(buf, size, "pid %d in another PID namespace", (int)pid);
	else
		snprintf(buf, size, "pid %d", (int)pid);
	return buf;
}

static int consumer_dead(shmq *q, void *arg)
{
	(void)arg;
	char who[96];
	if (claim_pid(atomic_load(w64(q, OFF_CONSUMER))) != 0 && !held(q, OFF_CONSUMER))
		return fail(SHMQ_EPEERDEAD, "queue send", q->name, "peer process died: consumer %s", claimant(q, OFF_CONSUMER, who, sizeof who));
	return 0;
}

static int producers_dead(shmq *q, void *arg)
{
	(void)arg;
	int dead = -1;
	for (uint32_t i = 0; i < q->slots; i++) {
		if (claim_pid(atomic_load(w64(q, slot_off((int)i)))) == 0)
			continue;
		if (held(q, slot_off((int)i)))
			return 0;
		dead = (int)i;
	}
	char who[96];
	if (dead >= 0)
		return fail(SHMQ_EPEERDEAD, "queue receive", q->name, "peer process died: producer %s", claimant(q, slot_off(dead), who, sizeof who));
	return 0;
}

static int live_producers(shmq *q)
{
	int n = 0;
	for (uint32_t i = 0; i < q->slots; i++)
		n += held(q, slot_off((int)i));
	return n;
}

/* owner_gone reports whether the writer of record state st can no longer
 * commit it (§5.2). st's slot was checked against slots. */
static int owner_gone(shmq *q, uint32_t st)
{
	size_t off = slot_off((int)st_slot(st));
	uint64_t w = atomic_load(w64(q, off));
	if (claim_pid(w) == 0 || (claim_gen(w) & GEN_MASK) != st_gen(st))
		return 1;
	return !held(q, off);
}

static int lock_holder_gone(shmq *q, uint32_t v)
{
	int i = (int)(v >> 24) - 1;
	if (i < 0 || (uint32_t)i >= q->slots)
		return 1;
	uint64_t w = atomic_load(w64(q, slot_off(i)));
	if (claim_pid(w) == 0 || (claim_gen(w) & 0xffffff) != (v & 0xffffff))
		return 1;
	return !held(q, slot_off(i));
}

/* ---- waking (§7) ---- */

static void wake_sleeper(_Atomic uint32_t *w, uint32_t sleeping)
{
	if (atomic_exchange(w, 0) == sleeping)
		futex_wake_all(w);
}

static void wake_consumer(shmq *q)
{
	if (atomic_load(w32(q, OFF_CONS_WAIT)) != 0)
		wake_sleeper(w32(q, OFF_CONS_WAIT), 1);
}

static void publish_head(shmq *q)
{
	if (q->c_head != q->c_pub) {
		q->c_pub = q->c_head;
		publish64(q, w64(q, OFF_HEAD), q->c_head);
	}
	if (atomic_load(w32(q, OFF_PROD_WAIT)) != PROD_IDLE)
		wake_sleeper(w32(q, OFF_PROD_WAIT), PROD_SLEEPING);
}

static void publish_tail(shmq *q)
{
	if (q->p_tail != q->p_pub) {
		q->p_pub = q->p_tail;
		atomic_store(w64(q, OFF_TAIL), q->p_tail);
	}
}

static void stop_waiting(shmq *q)
{
	if (atomic_load(w32(q, OFF_CONS_WAIT)) != 0)
		atomic_store(w32(q, OFF_CONS_WAIT), 0);
}

/* ---- waiting ---- */

typedef int (*ready_fn)(shmq *q, void *arg);     /* 1 ready, 0 not yet, < 0 error */
typedef int (*peer_fn)(shmq *q, void *arg);      /* 0 fine, < 0 error */

/* A call's time limit. The deadline is taken from the monotonic clock
 * only when a wait first reads the clock (after its first 64 looks), so
 * that a call which finds its message or its room at once, or within a
 * few spins, reads no clock at all: a positive timeout bounds the waiting,
 * counted from there. */
struct limit {
	int64_t timeout;  /* < 0: none; 0: never wait */
	int64_t deadline; /* once set */
	int set;
};

static struct limit limit_of(int64_t timeout_ns) { return (struct limit){timeout_ns, 0, 0}; }

/* deadline_at returns the limit's deadline, -1 for none, fixing it at now
 * + timeout on its first use. */
static int64_t deadline_at(struct limit *l, int64_t now)
{
	if (l->timeout < 0)
		return -1;
	if (!l->set) {
		l->set = 1;
		l->deadline = l->timeout > INT64_MAX - now ? -1 : now + l->timeout;
	}
	return l->deadline;
}

struct waiter {
	shmq *q;
	ready_fn ready;
	peer_fn peer;
	void *arg;
	struct limit *lim;
	int eager;
	int started;      /* start, last_peer and deadline are set */
	int64_t start;
	int64_t deadline; /* < 0: none */
	int64_t last_peer;
	const char *op;
};

static int check_size(shmq *q, const char *op)
{
	struct stat st;
	if (fstat(q->fd, &st) < 0)
		return fail(-errno, op, q->name, "fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size < HEADER_SIZE + q->capacity)
		return fail(SHMQ_EFAULT, op, q->name, "the object was truncated to %lld bytes while mapped; the queue needs %llu",
		            (long long)st.st_size, (unsigned long long)(HEADER_SIZE + q->capacity));
	return 0;
}

/* check runs the periodic checks of a wait: the deadline, and every
 * PEER_CHECK_NS the object's size and the peer. 1 means "ready after all".
 * Its first call starts the wait's clock. */
static int check(struct waiter *w, int64_t now)
{
	if (!w->started) {
		w->started = 1;
		w->start = now;
		w->last_peer = w->eager ? now - PEER_CHECK_NS : now;
		w->deadline = deadline_at(w->lim, now);
	}
	if (w->deadline >= 0 && now >= w->deadline)
		return fail(SHMQ_ETIMEDOUT, w->op, w->q->name, NULL);
	if (now - w->last_peer < PEER_CHECK_NS)
		return 0;
	w->last_peer = now;
	int r = check_size(w->q, w->op);
	if (r < 0)
		return r;
	r = w->peer(w->q, w->arg);
	if (r < 0) {
		int rr = w->ready(w->q, w->arg);
		if (rr != 0)
			return rr;
		return r;
	}
	return 0;
}

/* await waits until ready says yes (0) or fails (< 0). word is the futex
 * word this side advertises its sleep in with value sleepv (§7). The clock
 * is read every 64 looks while spinning: a hand-off that comes within the
 * first looks costs no clock read. */
static int await(shmq *q, _Atomic uint32_t *word, uint32_t sleepv, ready_fn ready, peer_fn peer, void *arg, int eager,
                 struct limit *lim, const char *op)
{
	struct waiter w = {.q = q, .ready = ready, .peer = peer, .arg = arg, .lim = lim, .eager = eager, .op = op};
	int64_t deadline;
	int r;
	for (long i = 1;; i++) {
		if ((r = ready(q, arg)) != 0)
			return r < 0 ? r : 0;
		if (i % 64)
			continue;
		int64_t now = now_ns();
		if ((r = check(&w, now)) != 0)
			return r < 0 ? r : 0;
		if (now - w.start >= SPIN_NS)
			break;
	}
	deadline = w.deadline;
	for (;;) {
		atomic_store(word, sleepv);
		int hv = heavy();
		if ((r = ready(q, arg)) != 0)
			return r < 0 ? r : 0;
		int64_t slice = hv < 0 ? HEAVY_FALLBACK_NS : PEER_CHECK_NS;
		if (deadline >= 0) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return fail(SHMQ_ETIMEDOUT, op, q->name, NULL);
			if (left < slice)
				slice = left;
		}
		if (futex_wait(word, sleepv, slice) == -EINTR)
			return fail(SHMQ_EINTR, op, q->name, NULL);
		if ((r = ready(q, arg)) != 0)
			return r < 0 ? r : 0;
		if ((r = check(&w, now_ns())) != 0)
			return r < 0 ? r : 0;
	}
}

/* ---- opening and creating ---- */

static int clean_name(const char *name, const char *op, const char **out)
{
	if (!name)
		return fail(SHMQ_EINVAL, op, "(null)", "invalid name: NULL");
	while (*name == '/')
		name++;
	size_t n = strlen(name);
	if (n == 0 || n > 255 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return fail(SHMQ_EINVAL, op, name,
		            "invalid name: it needs 1 to 255 bytes after its leading slashes, no '/', and not \".\" or \"..\"");
	*out = name;
	return 0;
}

static int object_path(const char *dir, const char *name, char *path, size_t size)
{
	if (!dir || !*dir)
		dir = "/dev/shm";
	int n = snprintf(path, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? SHMQ_EINVAL : 0;
}

/* map_object maps the whole object open as fd, shared and writable, once
 * fstat shows a regular file of at least min bytes; otherwise it closes fd
 * and fails with notkind, naming what the object is not ("queue",
 * "topic"). */
static int map_object(int fd, int64_t min, int notkind, const char *what, const char *op, const char *name, void **base, size_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return fail(e, op, name, "fstat: %s", strerror(-e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size < min) {
		close(fd);
		return fail(notkind, op, name, "not a %s: %lld bytes, too small for a %s header", what, (long long)st.st_size, what);
	}
	if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
		close(fd);
		return fail(SHMQ_EINVAL, op, name, "the object is too large to map");
	}
	*size = (size_t)st.st_size;
	*base = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return fail(e, op, name, "mmap: %s", strerror(-e));
	}
	return 0;
}

/* attach validates the header of the object open as fd (§3) and makes the
 * handle. It takes over fd. */
static int attach(int fd, const char *name, const char *op, shmq **out)
{
	void *base;
	size_t size;
	int mrc = map_object(fd, HEADER_SIZE, SHMQ_ENOTQUEUE, "queue", op, name, &base, &size);
	if (mrc < 0)
		return mrc;
	uint8_t *b = base;
	int rc = 0;
	uint64_t magic = atomic_load((_Atomic uint64_t *)(void *)(b + OFF_MAGIC));
	uint32_t version, flags, maxmsg, slots;
	uint64_t capacity;
	memcpy(&version, b + OFF_VERSION, 4);
	memcpy(&flags, b + OFF_FLAGS, 4);
	memcpy(&capacity, b + OFF_CAPACITY, 8);
	memcpy(&maxmsg, b + OFF_MAXMSG, 4);
	memcpy(&slots, b + OFF_SLOTS, 4);
	if (magic != MAGIC)
		rc = fail(SHMQ_ENOTQUEUE, op, name, "not a queue: magic %#018llx, want %#018llx", (unsigned long long)magic, MAGIC);
	else if (version != SHMQ_LAYOUT_VERSION)
		rc = fail(SHMQ_EVERSION, op, name, "unsupported queue layout version: %u, this library reads %d", version, SHMQ_LAYOUT_VERSION);
	else if (flags & ~FLAG_MULTI)
		rc = fail(SHMQ_ECORRUPT, op, name, "queue is corrupt: header field flags at offset %d: unknown bits %#x", OFF_FLAGS, flags & ~FLAG_MULTI);
	else if (!is_pow2(capacity) || capacity < SHMQ_MIN_CAPACITY || capacity > SHMQ_MAX_CAPACITY)
		rc = fail(SHMQ_ECORRUPT, op, name, "queue is corrupt: header field capacity at offset %d: %llu is not a power of two in [%llu, %llu]",
		          OFF_CAPACITY, (unsigned long long)capacity, SHMQ_MIN_CAPACITY, SHMQ_MAX_CAPACITY);
	else if ((uint64_t)size < HEADER_SIZE + capacity)
		rc = fail(SHMQ_ECORRUPT, op, name, "queue is corrupt: the object has %zu bytes, a queue of capacity %llu needs %llu", size,
		          (unsigned long long)capacity, (unsigned long long)(HEADER_SIZE + capacity));
	else if (maxmsg > max_message_for(capacity))
		rc = fail(SHMQ_ECORRUPT, op, name, "queue is corrupt: header field max message at offset %d: %u is more than %llu allowed by capacity %llu",
		          OFF_MAXMSG, maxmsg, (unsigned long long)max_message_for(capacity), (unsigned long long)capacity);
	else if (slots != ((flags & FLAG_MULTI) ? MAX_SLOTS : 1u))
		rc = fail(SHMQ_ECORRUPT, op, name, "queue is corrupt: header field slots at offset %d: %u, want %u", OFF_SLOTS, slots,
		          (flags & FLAG_MULTI) ? MAX_SLOTS : 1u);
	shmq *q = NULL;
	if (!rc && !(q = calloc(1, sizeof *q)))
		rc = fail(-ENOMEM, op, name, NULL);
	if (rc) {
		munmap(base, size);
		close(fd);
		return rc;
	}
	snprintf(q->name, sizeof q->name, "%s", name);
	q->fd = fd;
	q->base = b;
	q->size = size;
	q->ring = b + HEADER_SIZE;
	q->capacity = capacity;
	q->mask = capacity - 1;
	q->max_msg = maxmsg;
	q->slots = slots;
	q->version = version;
	q->multi = (flags & FLAG_MULTI) != 0;
	memcpy(q->id, b + OFF_ID, ID_SIZE);
	q->light = asymmetric();
	q->pid = (int32_t)getpid();
	q->ns = pid_namespace();
	q->c_every = capacity / 4 > RECORD_HEADER ? capacity / 4 : RECORD_HEADER;
	q->tail_every = capacity / 16 > RECORD_HEADER ? capacity / 16 : RECORD_HEADER;
	*out = q;
	return 0;
}

int shmq_open(const char *name, const char *dir, shmq **out)
{
	const char *n;
	char path[4096];
	int rc = clean_name(name, "queue open", &n);
	if (rc)
		return rc;
	if (object_path(dir, n, path, sizeof path))
		return fail(SHMQ_EINVAL, "queue open", n, "directory name too long");
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(-errno, "queue open", n, "%s", strerror(errno));
	return attach(fd, n, "queue open", out);
}

int shmq_unlink(const char *name, const char *dir)
{
	const char *n;
	char path[4096];
	int rc = clean_name(name, "queue unlink", &n);
	if (rc)
		return rc;
	if (object_path(dir, n, path, sizeof path))
		return fail(SHMQ_EINVAL, "queue unlink", n, "directory name too long");
	if (unlink(path) < 0)
		return fail(-errno, "queue unlink", n, "%s", strerror(errno));
	return 0;
}

/* write_header writes the static line, the magic last (§1). */
static int write_header(uint8_t *b, uint64_t capacity, uint32_t maxmsg, int multi)
{
	uint32_t version = SHMQ_LAYOUT_VERSION, flags = multi ? FLAG_MULTI : 0, slots = multi ? MAX_SLOTS : 1;
	memcpy(b + OFF_VERSION, &version, 4);
	memcpy(b + OFF_FLAGS, &flags, 4);
	memcpy(b + OFF_CAPACITY, &capacity, 8);
	memcpy(b + OFF_MAXMSG, &maxmsg, 4);
	memcpy(b + OFF_SLOTS, &slots, 4);
	size_t got = 0;
	while (got < ID_SIZE) {
		ssize_t r = getrandom(b + OFF_ID + got, ID_SIZE - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	atomic_store((_Atomic uint64_t *)(void *)(b + OFF_MAGIC), MAGIC);
	return 0;
}

int shmq_create(const char *name, uint64_t capacity, const shmq_options *opt, shmq **out)
{
	static const shmq_options none;
	const char *n;
	char path[4096], tmp[4096];
	if (!opt)
		opt = &none;
	int rc = clean_name(name, "queue create", &n);
	if (rc)
		return rc;
	if (!is_pow2(capacity) || capacity < SHMQ_MIN_CAPACITY || capacity > SHMQ_MAX_CAPACITY)
		return fail(SHMQ_EINVAL, "queue create", n, "capacity %llu is not a power of two from %llu to %llu",
		            (unsigned long long)capacity, SHMQ_MIN_CAPACITY, SHMQ_MAX_CAPACITY);
	uint64_t limit = max_message_for(capacity), mm = opt->max_message ? opt->max_message : limit;
	if (mm > limit)
		return fail(SHMQ_EINVAL, "queue create", n, "max message %llu is not in [0, %llu] for capacity %llu", (unsigned long long)mm,
		            (unsigned long long)limit, (unsigned long long)capacity);
	const char *dir = opt->dir && *opt->dir ? opt->dir : "/dev/shm";
	mode_t mode = opt->mode ? opt->mode : 0600;
	if (object_path(dir, n, path, sizeof path))
		return fail(SHMQ_EINVAL, "queue create", n, "directory name too long");
	/* The object is written nameless (or under a temporary name) and named
	 * only when its header is complete (§1). */
	int named = 0;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(tmp, sizeof tmp, "%s/.shmq-%d-%llx", dir, (int)getpid(), (unsigned long long)now_ns());
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0)
			return fail(-errno, "queue create", n, "%s", strerror(errno));
		named = 1;
	}
	fchmod(fd, mode);
	void *b = MAP_FAILED;
	if (ftruncate(fd, (off_t)(HEADER_SIZE + capacity)) < 0) {
		rc = -errno;
		goto out;
	}
	b = mmap(NULL, HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_header(b, capacity, (uint32_t)mm, opt->multi_producer)) < 0)
		goto out;
	if (named) {
		if (link(tmp, path) < 0)
			rc = -errno;
	} else {
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
			rc = -errno;
	}
out:
	if (b != MAP_FAILED)
		munmap(b, HEADER_SIZE);
	if (named)
		unlink(tmp);
	if (rc < 0) {
		close(fd);
		return fail(rc, "queue create", n, "%s", strerror(-rc));
	}
	rc = attach(fd, n, "queue create", out);
	if (rc < 0)
		unlink(path);
	return rc;
}

uint64_t shmq_capacity(const shmq *q) { return q->capacity; }
uint32_t shmq_max_message(const shmq *q) { return q->max_msg; }
int shmq_is_multi_producer(const shmq *q) { return q->multi; }
const char *shmq_name(const shmq *q) { return q->name; }
void shmq_id(const shmq *q, uint8_t id[16]) { memcpy(id, q->id, ID_SIZE); }

/* ---- producer ---- */

static int corrupt_record(shmq *q, const char *op, uint64_t pos, const char *field, uint64_t val, const char *want)
{
	uint64_t o = pos & q->mask;
	return fail(SHMQ_ECORRUPT, op, q->name, "queue is corrupt: record at position %llu (ring offset %llu, segment offset %llu): %s %llu, want %s",
	            (unsigned long long)pos, (unsigned long long)o, (unsigned long long)(HEADER_SIZE + o), field, (unsigned long long)val, want);
}

/* check_cursors checks a head h and a tail t read together by a consumer
 * or a single producer that takes the role over (§3): both multiples of 8;
 * head <= tail <= head + capacity with multiple producers; at most capacity
 * apart either way with a single producer, whose published tail lags. It
 * compares before it subtracts, so that a cursor near 2^64 over a small
 * one cannot pass by wrapping around. */
static int check_cursors(shmq *q, const char *op, uint64_t h, uint64_t t)
{
	unsigned long long hh = h, tt = t, cap = q->capacity;
	if (h % 8 || t % 8)
		return fail(SHMQ_ECORRUPT, op, q->name, "queue is corrupt: cursors head %llu (header offset %d) and tail %llu (header offset %d): both must be multiples of 8",
		            hh, OFF_HEAD, tt, OFF_TAIL);
	if (h <= t && t - h > q->capacity)
		return fail(SHMQ_ECORRUPT, op, q->name, "queue is corrupt: cursors head %llu (header offset %d) and tail %llu (header offset %d): tail is more than capacity %llu past head",
		            hh, OFF_HEAD, tt, OFF_TAIL, cap);
	if (h > t && q->multi)
		return fail(SHMQ_ECORRUPT, op, q->name,
		            "queue is corrupt: head cursor at header offset %d is %llu, past the tail %llu (header offset %d); it must be from tail - capacity %llu to tail",
		            OFF_HEAD, hh, tt, OFF_TAIL, cap);
	if (h > t && h - t > q->capacity)
		return fail(SHMQ_ECORRUPT, op, q->name, "queue is corrupt: head cursor at header offset %d is %llu, more than capacity %llu past the published tail %llu (header offset %d)",
		            OFF_HEAD, hh, cap, tt, OFF_TAIL);
	return 0;
}

/* find_end walks a single-producer ring from head to its end marker, for a
 * producer that takes over (§5.1). */
static int find_end(shmq *q, uint64_t head, uint64_t *end)
{
	if (head % 8)
		return fail(SHMQ_ECORRUPT, "queue send", q->name, "queue is corrupt: head cursor at header offset %d is %llu, not a multiple of 8",
		            OFF_HEAD, (unsigned long long)head);
	uint64_t h = head;
	for (;;) {
		if (h - head > q->capacity - RECORD_HEADER)
			return fail(SHMQ_ECORRUPT, "queue send", q->name, "queue is corrupt: no end marker within %llu bytes after head %llu",
			            (unsigned long long)(q->capacity - RECORD_HEADER), (unsigned long long)head);
		uint64_t o = h & q->mask;
		uint64_t hdr = atomic_load_explicit(rword(q, o), memory_order_acquire);
		if (hdr == 0) {
			*end = h;
			return 0;
		}
		uint64_t len = (uint32_t)hdr;
		uint32_t st = (uint32_t)(hdr >> 32);
		switch (st_kind(st)) {
		case KIND_WRAP:
			if (len != q->capacity - o - RECORD_HEADER)
				return corrupt_record(q, "queue send", h, "wrap length", len, "the bytes to the ring's end less 8");
			h += q->capacity - o;
			break;
		case KIND_DATA:
		case KIND_PENDING:
		case KIND_SKIP:
			if (len > q->max_msg || o + rec_size(len) > q->capacity)
				return corrupt_record(q, "queue send", h, "length", len, "a record within the maximum message and the ring's end");
			h += rec_size(len);
			break;
		default:
			return corrupt_record(q, "queue send", h, "state", st, "a known record kind");
		}
	}
}

static COLD int claim_producer(shmq *q)
{
	int rc = SHMQ_EBUSY;
	for (uint32_t i = 0; i < q->slots; i++) {
		uint32_t gen;
		rc = claim(q, slot_off((int)i), &gen);
		if (rc == SHMQ_EBUSY)
			continue;
		if (rc < 0)
			return fail(rc, "queue send", q->name, "claiming producer slot %u: %s", i, shmq_strerror(rc));
		q->p_active = 1;
		q->p_slot = (int)i;
		q->p_gen = gen;
		q->batching = 0;
		q->resv = 0;
		if (!q->multi) {
			uint64_t h = atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire), t = 0;
			if ((rc = find_end(q, h, &t)) == 0)
				rc = check_cursors(q, "queue send", h, atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire));
			if (rc < 0) {
				give_up(q, slot_off((int)i), gen);
				q->p_active = 0;
				return rc;
			}
			q->p_tail = q->p_pub = t;
			q->p_head = h;
			atomic_store(w64(q, OFF_TAIL), t);
		}
		atomic_store(w32(q, OFF_CLOSED), 0);
		return 0;
	}
	if (q->multi)
		return fail(SHMQ_EBUSY, "queue send", q->name, "another live process holds this role: all %u producer slots are held", q->slots);
	char who[96];
	return fail(SHMQ_EBUSY, "queue send", q->name, "another live process holds this role: the queue has a live producer (%s)",
	            claimant(q, OFF_PRODUCERS, who, sizeof who));
}

static int sendable(shmq *q, size_t n)
{
	if (q->resv)
		return fail(SHMQ_ESTATE, "queue send", q->name, "a reserve is waiting for its commit");
	if (n > q->max_msg)
		return fail(SHMQ_ETOOLARGE, "queue send", q->name, "message too large: %zu bytes, the queue's maximum is %u", n, q->max_msg);
	return q->p_active ? 0 : claim_producer(q);
}

static void flush_batch(shmq *q);

static int load_head(shmq *q, uint64_t tail, uint64_t *out)
{
	uint64_t h = atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire);
	if (h < q->p_head || h > tail || h % 8)
		return fail(SHMQ_ECORRUPT, "queue send", q->name,
		            "queue is corrupt: head cursor at header offset %d is %llu; it must be a multiple of 8 between %llu and the tail %llu", OFF_HEAD,
		            (unsigned long long)h, (unsigned long long)q->p_head, (unsigned long long)tail);
	q->p_head = h;
	*out = h;
	return 0;
}

struct space {
	uint64_t target; /* SPSC: the tail that must fit; MPSC: the head seen */
};

static int spsc_ready(shmq *q, void *arg)
{
	struct space *s = arg;
	uint64_t h = 0;
	int rc = load_head(q, q->p_tail, &h);
	if (rc < 0)
		return rc;
	return s->target - h <= q->capacity;
}

static int mpsc_ready(shmq *q, void *arg)
{
	struct space *s = arg;
	return atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire) != s->target;
}

static COLD int wait_space(shmq *q, ready_fn ready, struct space *s, struct limit *lim, int block)
{
	int r = ready(q, s);
	if (r)
		return r < 0 ? r : 0;
	if (!block)
		return SHMQ_EFULL;
	/* Give the consumer's lazy publications a moment before asking (§7). */
	for (int i = 0; i < ASK_DELAY; i++)
		if ((r = ready(q, s)) != 0)
			return r < 0 ? r : 0;
	uint32_t idle = PROD_IDLE;
	atomic_compare_exchange_strong(w32(q, OFF_PROD_WAIT), &idle, PROD_WANT_HEAD);
	return await(q, w32(q, OFF_PROD_WAIT), PROD_SLEEPING, ready, consumer_dead, s, 0, lim, "queue send");
}

/* spsc_reserve finds room for an n-byte record at the single producer's
 * tail (§5.1 steps 1-4). */
static int spsc_reserve(shmq *q, uint32_t n, struct limit *lim, int block, uint64_t *coff, uint64_t *chdr, uint64_t *off, uint64_t *end)
{
	uint64_t rec = rec_size(n), t = q->p_tail, o = t & q->mask, need = rec;
	if (o + rec > q->capacity)
		need += q->capacity - o;
	if (t + need + RECORD_HEADER - q->p_head > q->capacity) {
		struct space s = {t + need + RECORD_HEADER};
		flush_batch(q);
		publish_tail(q);
		int rc = wait_space(q, spsc_ready, &s, lim, block);
		if (rc < 0)
			return rc;
	}
	*end = t + need;
	atomic_store_explicit(rword(q, *end & q->mask), 0, memory_order_relaxed);
	uint32_t data = rec_state(KIND_DATA, q->p_slot, q->p_gen);
	*coff = o;
	*chdr = hdr_word(n, data);
	if (need > rec) {
		atomic_store_explicit(rword(q, 0), hdr_word(n, data), memory_order_relaxed);
		*chdr = hdr_word((uint32_t)(q->capacity - o - RECORD_HEADER), rec_state(KIND_WRAP, q->p_slot, q->p_gen));
		o = 0;
	}
	*off = o;
	return 0;
}

static void committed(shmq *q)
{
	if (atomic_load(w32(q, OFF_CONS_WAIT)) != 0)
		wake_consumer(q);
	if (q->p_tail - q->p_pub >= q->tail_every)
		publish_tail(q);
}

static void spsc_commit(shmq *q, uint64_t off, uint64_t hdr, int batch)
{
	if (!batch) {
		publish64(q, rword(q, off), hdr);
		committed(q);
		return;
	}
	if (!q->batching) {
		q->batching = 1;
		q->batch_off = off;
		q->batch_hdr = hdr;
		return;
	}
	atomic_store_explicit(rword(q, off), hdr, memory_order_relaxed);
}

static void flush_batch(shmq *q)
{
	if (q->batching) {
		q->batching = 0;
		publish64(q, rword(q, q->batch_off), q->batch_hdr);
		committed(q);
	}
}

/* lock_reserve takes the multi-producer reserve lock (§5.2 step 1). */
static int lock_reserve(shmq *q, struct limit *lim, int block)
{
	_Atomic uint32_t *lk = w32(q, OFF_LOCK);
	uint32_t me = lock_value(q->p_slot, q->p_gen);
	for (long i = 1;; i++) {
		uint32_t z = 0;
		if (atomic_load_explicit(lk, memory_order_relaxed) == 0 && atomic_compare_exchange_strong(lk, &z, me))
			return 0;
		if (i < 64)
			continue;
		if (!block && i > (1 << 14))
			return SHMQ_EFULL;
		if (i % 16 == 0)
			sched_yield();
		if (i % 1024 == 0) {
			if (lim->timeout > 0) {
				int64_t now = now_ns();
				if (now >= deadline_at(lim, now))
					return fail(SHMQ_ETIMEDOUT, "queue send", q->name, NULL);
			}
			uint32_t v = atomic_load(lk);
			if (v != 0 && lock_holder_gone(q, v) && atomic_compare_exchange_strong(lk, &v, me))
				return 0;
		}
	}
}

static int mpsc_reserve(shmq *q, uint32_t n, struct limit *lim, int block, uint64_t *off)
{
	uint64_t rec = rec_size(n);
	for (;;) {
		int rc = lock_reserve(q, lim, block);
		if (rc < 0)
			return rc;
		uint64_t t = atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire);
		uint64_t h = atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire);
		if (h > t || t - h > q->capacity || t % 8 || h % 8) {
			atomic_store(w32(q, OFF_LOCK), 0);
			return fail(SHMQ_ECORRUPT, "queue send", q->name,
			            "queue is corrupt: cursors tail %llu (header offset %d) and head %llu (header offset %d) are misaligned or more than capacity %llu apart",
			            (unsigned long long)t, OFF_TAIL, (unsigned long long)h, OFF_HEAD, (unsigned long long)q->capacity);
		}
		uint64_t o = t & q->mask, need = rec;
		if (o + rec > q->capacity)
			need += q->capacity - o;
		if (t + need - h <= q->capacity) {
			if (need > rec) {
				atomic_store_explicit(rword(q, o), hdr_word((uint32_t)(q->capacity - o - RECORD_HEADER), rec_state(KIND_WRAP, q->p_slot, q->p_gen)),
				                      memory_order_relaxed);
				o = 0;
			}
			atomic_store_explicit(rword(q, o), hdr_word(n, rec_state(KIND_PENDING, q->p_slot, q->p_gen)), memory_order_relaxed);
			publish64(q, w64(q, OFF_TAIL), t + need);
			unlock_reserve(q);
			*off = o;
			return 0;
		}
		atomic_store(w32(q, OFF_LOCK), 0);
		if (!block)
			return SHMQ_EFULL;
		struct space s = {h};
		rc = wait_space(q, mpsc_ready, &s, lim, block);
		if (rc < 0)
			return rc;
	}
}

static void mpsc_commit(shmq *q, uint64_t off, uint32_t n, uint32_t kind)
{
	publish64(q, rword(q, off), hdr_word(n, rec_state(kind, q->p_slot, q->p_gen)));
	wake_consumer(q);
}

/* fast_producer reports whether the handle is a single producer with no
 * reserve or batch open and n fits the maximum message: then a record that
 * fits at the tail without waiting or wrapping (room) takes the fast
 * paths. */
static inline int fast_producer(const shmq *q, size_t n)
{
	return !q->multi && q->p_active && !q->resv && !q->batching && n <= q->max_msg;
}

/* room says whether a record of rec bytes fits at the single producer's
 * tail t without wrapping and without waiting for the consumer, the end
 * marker after it included (§5.1 step 2, with the head last seen). */
static inline int room(const shmq *q, uint64_t t, uint64_t rec)
{
	return (t & q->mask) + rec <= q->capacity && t + rec + RECORD_HEADER - q->p_head <= q->capacity;
}

/* send_fast is shmq_send's path for the common case, a fast producer's
 * record that has room: the end marker after the record, the payload, then
 * the header in one release store, with no call between the ring stores
 * but the copy (a call's spilled registers are stores too, queued behind
 * the ring's). It reports 0, having done nothing, for anything else. */
static inline int send_fast(shmq *q, const void *msg, size_t n)
{
	if (!fast_producer(q, n))
		return 0;
	uint64_t t = q->p_tail, rec = rec_size(n), o = t & q->mask;
	if (!room(q, t, rec))
		return 0;
	atomic_store_explicit(rword(q, (t + rec) & q->mask), 0, memory_order_relaxed);
	if (n)
		copy_msg(q->ring + o + RECORD_HEADER, msg, n);
	q->p_tail = t + rec;
	publish64(q, rword(q, o), hdr_word((uint32_t)n, rec_state(KIND_DATA, q->p_slot, q->p_gen)));
	committed(q);
	return 1;
}

static int send_one(shmq *q, const void *msg, size_t n, struct limit *lim, int block, int batch)
{
	int rc = sendable(q, n);
	if (rc < 0)
		return rc;
	uint64_t off;
	if (q->multi) {
		if ((rc = mpsc_reserve(q, (uint32_t)n, lim, block, &off)) < 0)
			return rc;
		if (n)
			copy_msg(q->ring + off + RECORD_HEADER, msg, n);
		mpsc_commit(q, off, (uint32_t)n, KIND_DATA);
		return 0;
	}
	uint64_t coff, chdr, end;
	if ((rc = spsc_reserve(q, (uint32_t)n, lim, block, &coff, &chdr, &off, &end)) < 0)
		return rc;
	if (n)
		copy_msg(q->ring + off + RECORD_HEADER, msg, n);
	q->p_tail = end;
	spsc_commit(q, coff, chdr, batch);
	return 0;
}

static int send_err(shmq *q, int rc)
{
	if (rc == SHMQ_EFULL)
		return fail(rc, "queue send", q->name, NULL);
	return rc; /* described where it arose */
}

int shmq_send(shmq *q, const void *msg, size_t n, int64_t timeout_ns)
{
	if (q && (msg || !n) && send_fast(q, msg, n))
		return 0;
	if (!q || (n && !msg))
		return fail(SHMQ_EINVAL, "queue send", q ? q->name : "(null)", "invalid argument");
	struct limit lim = limit_of(timeout_ns);
	int rc = send_one(q, msg, n, &lim, timeout_ns != 0, 0);
	return rc < 0 ? send_err(q, rc) : 0;
}

/* mpsc_append reserves, in one hold of the reserve lock, the leading
 * messages of msgs that fit without waiting or wrapping (at most 64), as
 * pending records with one tail store, then writes and commits them in
 * order (§5.2, batches). It takes the lock only when it is free at once
 * and returns how many it sent; the caller sends the rest one by one. */
static size_t mpsc_append(shmq *q, const struct iovec *msgs, size_t count)
{
	_Atomic uint32_t *lk = w32(q, OFF_LOCK);
	uint32_t z = 0;
	if (count == 0 || atomic_load_explicit(lk, memory_order_relaxed) != 0 ||
	    !atomic_compare_exchange_strong(lk, &z, lock_value(q->p_slot, q->p_gen)))
		return 0;
	uint64_t t = atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire);
	uint64_t h = atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire);
	uint32_t pending = rec_state(KIND_PENDING, q->p_slot, q->p_gen);
	uint64_t end = t;
	size_t n = 0;
	if (h <= t && t - h <= q->capacity && t % 8 == 0 && h % 8 == 0) {
		for (; n < count && n < 64 && msgs[n].iov_len <= q->max_msg && (msgs[n].iov_len == 0 || msgs[n].iov_base); n++) {
			uint64_t off = end & q->mask, rec = rec_size(msgs[n].iov_len);
			if (off + rec > q->capacity || end + rec - h > q->capacity)
				break;
			atomic_store_explicit(rword(q, off), hdr_word((uint32_t)msgs[n].iov_len, pending), memory_order_relaxed);
			end += rec;
		}
	}
	if (n == 0) {
		unlock_reserve(q);
		return 0;
	}
	publish64(q, w64(q, OFF_TAIL), end);
	unlock_reserve(q);
	uint32_t data = rec_state(KIND_DATA, q->p_slot, q->p_gen);
	for (size_t i = 0; i < n; i++) {
		uint64_t off = t & q->mask;
		if (msgs[i].iov_len)
			copy_msg(q->ring + off + RECORD_HEADER, msgs[i].iov_base, msgs[i].iov_len);
		publish64(q, rword(q, off), hdr_word((uint32_t)msgs[i].iov_len, data));
		t += rec_size(msgs[i].iov_len);
	}
	wake_consumer(q);
	return n;
}

/* append_batch is the single producer's batch path once send_one began a
 * batch (its first header deferred, see spsc_commit): it writes the
 * leading messages of msgs that have room, each header with a plain store,
 * and the end marker once, after the last; flush_batch's store of the
 * first header publishes them all, as the consumer reads nothing past that
 * header before it. It returns how many it wrote. */
static size_t append_batch(shmq *q, const struct iovec *msgs, size_t count)
{
	if (!q->batching)
		return 0;
	uint32_t data = rec_state(KIND_DATA, q->p_slot, q->p_gen);
	uint64_t t = q->p_tail;
	size_t i = 0;
	for (; i < count; i++) {
		size_t n = msgs[i].iov_len;
		if (n > q->max_msg || (n && !msgs[i].iov_base))
			break;
		uint64_t rec = rec_size(n), o = t & q->mask;
		if (!room(q, t, rec))
			break;
		if (n)
			copy_msg(q->ring + o + RECORD_HEADER, msgs[i].iov_base, n);
		atomic_store_explicit(rword(q, o), hdr_word((uint32_t)n, data), memory_order_relaxed);
		t += rec;
	}
	if (i > 0) {
		atomic_store_explicit(rword(q, t & q->mask), 0, memory_order_relaxed);
		q->p_tail = t;
	}
	return i;
}

/* send_iov sends msgs in order as part of a batch that the caller
 * flushes (it flushes on an error); it adds the messages sent to *sent. */
static int send_iov(shmq *q, const struct iovec *msgs, size_t count, struct limit *lim, int block, size_t *sent)
{
	for (size_t i = 0; i < count;) {
		if (msgs[i].iov_len && !msgs[i].iov_base) {
			flush_batch(q);
			return fail(SHMQ_EINVAL, "queue send", q->name, "message %zu: NULL with a length of %zu", *sent, msgs[i].iov_len);
		}
		int rc = send_one(q, msgs[i].iov_base, msgs[i].iov_len, lim, block, 1);
		if (rc < 0) {
			flush_batch(q);
			return send_err(q, rc);
		}
		size_t k = 1 + (q->multi ? mpsc_append(q, msgs + i + 1, count - i - 1) : append_batch(q, msgs + i + 1, count - i - 1));
		i += k;
		*sent += k;
	}
	return 0;
}

int shmq_send_batch(shmq *q, const struct iovec *msgs, size_t count, int64_t timeout_ns, size_t *sent)
{
	size_t done = 0;
	if (sent)
		*sent = 0;
	if (!q || (count && !msgs))
		return fail(SHMQ_EINVAL, "queue send", q ? q->name : "(null)", "invalid argument");
	struct limit lim = limit_of(timeout_ns);
	int rc = send_iov(q, msgs, count, &lim, timeout_ns != 0, &done);
	if (rc == 0)
		flush_batch(q);
	if (sent)
		*sent = done;
	return rc;
}

int shmq_send_packed(shmq *q, const void *data, const uint32_t *lens, size_t count, int64_t timeout_ns, size_t *sent)
{
	size_t done = 0;
	if (sent)
		*sent = 0;
	if (!q || (count && (!lens || !data)))
		return fail(SHMQ_EINVAL, "queue send", q ? q->name : "(null)", "invalid argument");
	struct limit lim = limit_of(timeout_ns);
	const uint8_t *p = data;
	struct iovec iov[64];
	int rc = 0;
	while (done < count) {
		size_t k = count - done < 64 ? count - done : 64;
		for (size_t i = 0; i < k; i++) {
			iov[i].iov_base = (void *)p;
			iov[i].iov_len = lens[done + i];
			p += lens[done + i];
		}
		if ((rc = send_iov(q, iov, k, &lim, timeout_ns != 0, &done)) < 0)
			break;
	}
	if (rc == 0)
		flush_batch(q);
	if (sent)
		*sent = done;
	return rc;
}

int shmq_reserve(shmq *q, size_t n, int64_t timeout_ns, void **buf)
{
	if (!q || !buf)
		return fail(SHMQ_EINVAL, "queue send", q ? q->name : "(null)", "invalid argument");
	if (fast_producer(q, n)) {
		/* shmq_send's fast path, the commit left for shmq_commit. */
		uint64_t t = q->p_tail, rec = rec_size(n), o = t & q->mask;
		if (room(q, t, rec)) {
			atomic_store_explicit(rword(q, (t + rec) & q->mask), 0, memory_order_relaxed);
			q->resv_commit_off = o;
			q->resv_commit_hdr = hdr_word((uint32_t)n, rec_state(KIND_DATA, q->p_slot, q->p_gen));
			q->resv_end = t + rec;
			q->resv = 1;
			q->resv_off = o;
			q->resv_len = (uint32_t)n;
			*buf = q->ring + o + RECORD_HEADER;
			return 0;
		}
	}
	int rc = sendable(q, n);
	if (rc < 0)
		return rc;
	struct limit lim = limit_of(timeout_ns);
	uint64_t off;
	if (q->multi) {
		rc = mpsc_reserve(q, (uint32_t)n, &lim, timeout_ns != 0, &off);
	} else {
		rc = spsc_reserve(q, (uint32_t)n, &lim, timeout_ns != 0, &q->resv_commit_off, &q->resv_commit_hdr, &off, &q->resv_end);
	}
	if (rc < 0)
		return send_err(q, rc);
	q->resv = 1;
	q->resv_off = off;
	q->resv_len = (uint32_t)n;
	*buf = q->ring + off + RECORD_HEADER;
	return 0;
}

int shmq_commit(shmq *q)
{
	if (!q)
		return fail(SHMQ_EINVAL, "queue commit", "(null)", "invalid argument");
	if (!q->resv)
		return fail(SHMQ_ESTATE, "queue commit", q->name, "no reserve to commit");
	q->resv = 0;
	if (q->multi) {
		mpsc_commit(q, q->resv_off, q->resv_len, KIND_DATA);
		return 0;
	}
	q->p_tail = q->resv_end;
	spsc_commit(q, q->resv_commit_off, q->resv_commit_hdr, 0);
	return 0;
}

/* ---- consumer ---- */

static COLD int claim_consumer(shmq *q)
{
	uint32_t gen;
	int rc = claim(q, OFF_CONSUMER, &gen);
	char who[96];
	if (rc == SHMQ_EBUSY)
		return fail(rc, "queue receive", q->name, "another live process holds this role: the queue has a live consumer (%s)",
		            claimant(q, OFF_CONSUMER, who, sizeof who));
	if (rc < 0)
		return fail(rc, "queue receive", q->name, "claiming the consumer role: %s", shmq_strerror(rc));
	uint64_t h = atomic_load_explicit(w64(q, OFF_HEAD), memory_order_acquire);
	uint64_t t = atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire);
	if ((rc = check_cursors(q, "queue receive", h, t)) < 0) {
		give_up(q, OFF_CONSUMER, gen);
		return rc;
	}
	q->c_active = 1;
	q->c_gen = gen;
	q->c_head = q->c_pub = q->c_tail = h;
	q->peeked = 0;
	return 0;
}

static int caught_up(shmq *q)
{
	if (q->multi)
		return q->c_head == q->c_tail;
	return atomic_load_explicit(rword(q, q->c_head & q->mask), memory_order_relaxed) == 0;
}

static int publish_due(shmq *q)
{
	return q->c_head - q->c_pub >= q->c_every || atomic_load(w32(q, OFF_PROD_WAIT)) != PROD_IDLE;
}

/* pass moves head over n ring bytes that hold no message to count (a wrap
 * or skip record) and publishes head when it is due or caught up. */
static void pass(shmq *q, uint64_t n)
{
	q->c_head += n;
	if (publish_due(q) || caught_up(q))
		publish_head(q);
}

/* advance consumes a message of n ring bytes, counted for the slip. */
static void advance(shmq *q, uint64_t n)
{
	q->c_takes++;
	pass(q, n);
}

static int refresh_tail(shmq *q)
{
	uint64_t t = atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire);
	if (t < q->c_tail || t - q->c_head > q->capacity || t % 8)
		return fail(SHMQ_ECORRUPT, "queue receive", q->name,
		            "queue is corrupt: tail cursor at header offset %d is %llu; it must be a multiple of 8 from %llu to head %llu + capacity %llu",
		            OFF_TAIL, (unsigned long long)t, (unsigned long long)q->c_tail, (unsigned long long)q->c_head, (unsigned long long)q->capacity);
	q->c_tail = t;
	return 0;
}

static int queue_empty(shmq *q)
{
	if (q->multi)
		return atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire) == q->c_head;
	return atomic_load_explicit(rword(q, q->c_head & q->mask), memory_order_acquire) == 0;
}

static int data_ready(shmq *q, void *arg)
{
	(void)arg;
	if (atomic_load(w32(q, OFF_PROD_WAIT)) != PROD_IDLE)
		publish_head(q);
	if (!queue_empty(q))
		return 1;
	/* Producers commit before they close: look again after closed. */
	uint32_t c = atomic_load(w32(q, OFF_CLOSED));
	if (c == CLOSED_OPEN)
		return 0;
	if (!queue_empty(q))
		return 1;
	if (c == CLOSED_END)
		return SHMQ_EOF;
	if (c == CLOSED_ABORTED)
		return SHMQ_EABORTED;
	return fail(SHMQ_ECORRUPT, "queue receive", q->name, "queue is corrupt: header field closed at offset %d: %u, want %d, %d or %d", OFF_CLOSED, c,
	            CLOSED_OPEN, CLOSED_END, CLOSED_ABORTED);
}

/* slip lets a writer run ahead of a reader that has caught up with it in
 * mid-stream. Caught up, a queue's consumer or a topic's subscriber would
 * look at the header word of the next record, on the line the writer is
 * writing that record into, and every look moves the line between the
 * CPUs while the writer still writes it: a fast reader then slows the
 * writer down to about a line transfer per message (a C consumer halved a
 * Go producer's 64 B stream). A reader that took two messages or more
 * since its last wait (taken) is in a stream: it waits SLIP_NS without
 * touching the ring, and then finds a run of finished records to read. One
 * that took a single message, as each side of a request and reply does,
 * looks at once. The slip counts towards the call's timeout. It ends early
 * when stop(arg) says the writer waits for this reader (a queue's producer
 * asks for head, a lossless topic publisher waits for the subscriber to
 * move on): in a small ring the writer fills the ring before the slip is
 * out and would wait out the rest of it. The Go library follows the same
 * rules (internal/slip). */
static COLD void slip(uint64_t taken, struct limit *lim, int (*stop)(const void *), const void *arg)
{
	if (taken < 2)
		return;
	int64_t now = now_ns(), end = now + SLIP_NS, deadline = deadline_at(lim, now);
	if (deadline >= 0 && deadline < end)
		end = deadline;
	while (now_ns() < end)
		if (stop(arg))
			return;
}

/* producer_wants_head stops a queue consumer's slip: a producer found the
 * ring full and asks for head. */
static int producer_wants_head(const void *arg)
{
	return atomic_load_explicit(w32(arg, OFF_PROD_WAIT), memory_order_relaxed) != PROD_IDLE;
}

static COLD int wait_data(shmq *q, struct limit *lim, int block)
{
	int r = data_ready(q, NULL);
	if (r)
		return r < 0 ? r : 0;
	if (!block)
		return SHMQ_EEMPTY;
	publish_head(q);
	slip(q->c_takes - q->c_takes_waited, lim, producer_wants_head, q);
	q->c_takes_waited = q->c_takes;
	r = await(q, w32(q, OFF_CONS_WAIT), 1, data_ready, producers_dead, NULL, 0, lim, "queue receive");
	stop_waiting(q);
	return r;
}

struct pending {
	uint64_t off;
	uint32_t st;
};

static int commit_ready(shmq *q, void *arg)
{
	struct pending *p = arg;
	if (atomic_load(w32(q, OFF_PROD_WAIT)) != PROD_IDLE)
		publish_head(q);
	return (uint32_t)(atomic_load_explicit(rword(q, p->off), memory_order_acquire) >> 32) != p->st;
}

static int pending_gone(shmq *q, void *arg)
{
	struct pending *p = arg;
	return owner_gone(q, p->st) ? ERR_SKIP : 0;
}

/* next finds the next committed message at the consumer's head (§5.1,
 * §5.2): its payload's ring offset and length, and the ring bytes from head
 * to its end. */
static int next(shmq *q, struct limit *lim, int block, uint64_t *off, uint32_t *len, uint64_t *adv)
{
	if (q->peeked) {
		*off = q->peek_off;
		*len = q->peek_len;
		*adv = q->peek_n;
		return 0;
	}
	int rc;
	if (!q->c_active && (rc = claim_consumer(q)) < 0)
		return rc;
	uint64_t from = q->c_head;
	for (;;) {
		uint64_t h = q->c_head, o = h & q->mask, avail = q->capacity - o;
		if (!q->multi && h - from > q->capacity)
			return fail(SHMQ_ECORRUPT, "queue receive", q->name,
			            "queue is corrupt: more than capacity %llu bytes of wrap and skip records after position %llu, and no end marker",
			            (unsigned long long)q->capacity, (unsigned long long)from);
		if (q->multi) {
			if (h == q->c_tail) {
				if ((rc = refresh_tail(q)) < 0)
					return rc;
				if (h == q->c_tail) {
					if ((rc = wait_data(q, lim, block)) < 0)
						return rc;
					continue;
				}
			}
			if (q->c_tail - h < avail)
				avail = q->c_tail - h;
		}
		uint64_t hdr = atomic_load_explicit(rword(q, o), memory_order_acquire);
		if (hdr == 0 && !q->multi) {
			if ((rc = wait_data(q, lim, block)) < 0)
				return rc;
			continue;
		}
		uint64_t length = (uint32_t)hdr;
		uint32_t st = (uint32_t)(hdr >> 32);
		uint32_t kind = st_kind(st);
		char want[160];
		if (kind == KIND_WRAP) {
			uint64_t rest = q->capacity - o;
			if (length != rest - RECORD_HEADER || rest > avail) {
				snprintf(want, sizeof want, "%llu to the ring's end, %llu bytes available", (unsigned long long)(rest - RECORD_HEADER),
				         (unsigned long long)avail);
				return corrupt_record(q, "queue receive", h, "wrap length", length, want);
			}
			pass(q, rest);
			continue;
		}
		if (kind != KIND_DATA && kind != KIND_SKIP && kind != KIND_PENDING)
			return corrupt_record(q, "queue receive", h, "state", st, "a known record kind");
		if (length > q->max_msg) {
			snprintf(want, sizeof want, "at most the maximum message %u", q->max_msg);
			return corrupt_record(q, "queue receive", h, "length", length, want);
		}
		uint64_t rec = rec_size(length);
		if (o + rec > q->capacity || rec > avail) {
			snprintf(want, sizeof want, "a record within the ring's end and the %llu bytes available", (unsigned long long)avail);
			return corrupt_record(q, "queue receive", h, "length", length, want);
		}
		if (st_slot(st) >= q->slots) {
			snprintf(want, sizeof want, "less than %u", q->slots);
			return corrupt_record(q, "queue receive", h, "producer slot", st_slot(st), want);
		}
		if (kind == KIND_DATA) {
			*off = o + RECORD_HEADER;
			*len = (uint32_t)length;
			*adv = h + rec - q->c_head;
			return 0;
		}
		if (kind == KIND_SKIP) {
			pass(q, rec);
			continue;
		}
		/* Pending: wait for its commit, or skip it when its writer is gone. */
		if (!block) {
			if (!owner_gone(q, st))
				return SHMQ_EEMPTY;
			rc = ERR_SKIP;
		} else {
			struct pending p = {o, st};
			publish_head(q);
			rc = await(q, w32(q, OFF_CONS_WAIT), 1, commit_ready, pending_gone, &p, 1, lim, "queue receive");
			stop_waiting(q);
		}
		if (rc == ERR_SKIP)
			pass(q, rec);
		else if (rc < 0)
			return rc;
	}
}

/* data_at looks at the record at a fast consumer's head (the single
 * consumer of a single producer's queue, nothing peeked) and reports
 * whether it is a committed message that next would return as it is: a
 * data record of producer slot 0, at most the maximum message long, that
 * ends by the ring's end. It sets the payload's ring offset and length and
 * the record's size. Anything else (an end marker, a wrap record, a
 * corrupt header) is next's, which reads the header again and checks it
 * in full. The header is loaded once and every field used is checked. */
static inline int data_at(shmq *q, uint64_t *off, uint32_t *len, uint64_t *rec)
{
	if (!q->c_active || q->peeked || q->multi)
		return 0;
	uint64_t o = q->c_head & q->mask;
	uint64_t hdr = atomic_load_explicit(rword(q, o), memory_order_acquire);
	uint64_t n = (uint32_t)hdr, r = rec_size(n);
	/* The state word's kind and slot bits: KIND_DATA, slot 0. */
	if ((uint32_t)(hdr >> (32 + SLOT_SHIFT)) != KIND_DATA << (KIND_SHIFT - SLOT_SHIFT) || n > q->max_msg || o + r > q->capacity)
		return 0;
	*off = o + RECORD_HEADER;
	*len = (uint32_t)n;
	*rec = r;
	return 1;
}

/* head_message finds the message at the consumer's head as next does,
 * looking first the way data_at does, which needs no clock and no wait. */
static int head_message(shmq *q, int64_t timeout_ns, uint64_t *off, uint32_t *len, uint64_t *adv)
{
	if (data_at(q, off, len, adv))
		return 0;
	struct limit lim = limit_of(timeout_ns);
	return next(q, &lim, timeout_ns != 0, off, len, adv);
}

static int recv_err(shmq *q, int rc)
{
	if (rc == SHMQ_EEMPTY || rc == SHMQ_EOF || rc == SHMQ_EABORTED)
		return fail(rc, "queue receive", q->name, NULL);
	return rc;
}

int shmq_receive(shmq *q, void *buf, size_t cap, size_t *len, int64_t timeout_ns)
{
	uint64_t off, adv;
	uint32_t n;
	if (q && len && (buf || !cap) && data_at(q, &off, &n, &adv) && n <= cap) {
		if (n)
			copy_msg(buf, q->ring + off, n);
		*len = n;
		advance(q, adv);
		return 0;
	}
	if (!q || !len || (cap && !buf))
		return fail(SHMQ_EINVAL, "queue receive", q ? q->name : "(null)", "invalid argument");
	struct limit lim = limit_of(timeout_ns);
	int rc = next(q, &lim, timeout_ns != 0, &off, &n, &adv);
	if (rc < 0)
		return recv_err(q, rc);
	*len = n;
	if (n > cap) {
		/* Keep the message for a call with a larger buffer. */
		q->peeked = 1;
		q->peek_off = off;
		q->peek_len = n;
		q->peek_n = q->peek_all = adv;
		return fail(SHMQ_ETOOLARGE, "queue receive", q->name, "message too large: %u bytes for a buffer of %zu", n, cap);
	}
	if (n)
		copy_msg(buf, q->ring + off, n);
	q->peeked = 0;
	advance(q, adv);
	return 0;
}

int shmq_peek(shmq *q, int64_t timeout_ns, const void **msg, size_t *len)
{
	if (!q || !msg || !len)
		return fail(SHMQ_EINVAL, "queue receive", q ? q->name : "(null)", "invalid argument");
	uint64_t off, adv;
	uint32_t n;
	int rc = head_message(q, timeout_ns, &off, &n, &adv);
	if (rc < 0)
		return recv_err(q, rc);
	q->peeked = 1;
	q->peek_off = off;
	q->peek_len = n;
	q->peek_n = q->peek_all = adv;
	*msg = q->ring + off;
	*len = n;
	return 0;
}

/* ready_behind walks the ring from pos, a record boundary behind a message
 * next found, and sets msgs to the data records that are committed there,
 * up to max and while their payloads add up to at most bytes, stepping
 * over wrap and skip records. It stops without an
 * error at anything else (the end, a pending record, a field that breaks
 * the rules): next reports that in its turn. *end gets the position after
 * the last record walked. */
static size_t ready_behind(shmq *q, uint64_t pos, struct iovec *msgs, size_t max, size_t bytes, uint64_t *end)
{
	size_t n = 0;
	while (n < max && pos - q->c_head <= q->capacity - RECORD_HEADER) {
		uint64_t o = pos & q->mask, avail = q->capacity - o;
		if (q->multi) {
			if (pos == q->c_tail) {
				uint64_t t = atomic_load_explicit(w64(q, OFF_TAIL), memory_order_acquire);
				if (t <= q->c_tail || t - q->c_head > q->capacity || t % 8)
					break;
				q->c_tail = t;
			}
			if (q->c_tail - pos < avail)
				avail = q->c_tail - pos;
		}
		uint64_t hdr = atomic_load_explicit(rword(q, o), memory_order_acquire);
		uint32_t length = (uint32_t)hdr, st = (uint32_t)(hdr >> 32), kind = st_kind(st);
		if (kind == KIND_WRAP) {
			if (length != avail - RECORD_HEADER || avail != q->capacity - o)
				break;
			pos += avail;
			continue;
		}
		if ((kind != KIND_DATA && kind != KIND_SKIP) || length > q->max_msg || st_slot(st) >= q->slots)
			break;
		uint64_t rec = rec_size(length);
		if (rec > avail)
			break;
		if (kind == KIND_DATA) {
			if (length > bytes)
				break;
			bytes -= length;
			msgs[n].iov_base = q->ring + o + RECORD_HEADER;
			msgs[n].iov_len = length;
			n++;
		}
		pos += rec;
	}
	*end = pos;
	return n;
}

int shmq_peek_batch(shmq *q, int64_t timeout_ns, struct iovec *msgs, size_t max, size_t max_bytes, size_t *count)
{
	if (count)
		*count = 0;
	if (!q || !msgs || !count || max == 0)
		return fail(SHMQ_EINVAL, "queue receive", q ? q->name : "(null)", "invalid argument");
	uint64_t off, adv, end;
	uint32_t n;
	int rc = head_message(q, timeout_ns, &off, &n, &adv);
	if (rc < 0)
		return recv_err(q, rc);
	msgs[0].iov_base = q->ring + off;
	msgs[0].iov_len = n;
	size_t rest = max_bytes == 0 ? SIZE_MAX : max_bytes > n ? max_bytes - n : 0;
	size_t k = 1 + ready_behind(q, q->c_head + adv, msgs + 1, max - 1, rest, &end);
	q->peeked = 1;
	q->peek_off = off;
	q->peek_len = n;
	q->peek_n = adv;
	q->peek_all = end - q->c_head;
	*count = k;
	return 0;
}

int shmq_release(shmq *q)
{
	if (!q)
		return fail(SHMQ_EINVAL, "queue release", "(null)", "invalid argument");
	if (!q->peeked)
		return fail(SHMQ_ESTATE, "queue release", q->name, "no peek to release");
	q->peeked = 0;
	advance(q, q->peek_all);
	return 0;
}

const void *shmq_ring(const shmq *q) { return q->ring; }

/* ---- closing (§6.4) ---- */

enum ending { END_DETACH, END_CLOSE, END_ABORT };

static int close_handle(shmq *q, enum ending how)
{
	if (!q)
		return 0;
	if (q->p_active) {
		if (q->resv && q->multi)
			mpsc_commit(q, q->resv_off, q->resv_len, KIND_SKIP);
		q->resv = 0;
		if (!q->multi) {
			flush_batch(q);
			publish_tail(q);
		}
		give_up(q, slot_off(q->p_slot), q->p_gen);
		q->p_active = 0;
		/* Closed once no other live producer remains; a producer that
		 * claims a slot reopens after its claim, and looking again after
		 * the store means one of the two sees the other. The
		 * compare-and-swaps leave an abort in place; an abort marks the
		 * stream whoever else is sending. */
		uint32_t c = CLOSED_OPEN;
		if (how == END_ABORT) {
			atomic_store(w32(q, OFF_CLOSED), CLOSED_ABORTED);
		} else if (how == END_CLOSE && live_producers(q) == 0 &&
		           atomic_compare_exchange_strong(w32(q, OFF_CLOSED), &c, CLOSED_END) && live_producers(q) > 0) {
			c = CLOSED_END;
			atomic_compare_exchange_strong(w32(q, OFF_CLOSED), &c, CLOSED_OPEN);
		}
		wake_consumer(q);
	}
	if (q->c_active) {
		publish_head(q);
		give_up(q, OFF_CONSUMER, q->c_gen);
		q->c_active = 0;
	}
	munmap(q->base, q->size);
	close(q->fd);
	free(q);
	return 0;
}

int shmq_close(shmq *q) { return close_handle(q, END_CLOSE); }
int shmq_detach(shmq *q) { return close_handle(q, END_DETACH); }
int shmq_abort(shmq *q) { return close_handle(q, END_ABORT); }

/* ---- topics: the subscriber side (docs/PROTOCOL.md, "Topic") ---- */

enum {
	T_OFF_MAGIC = 0,
	T_OFF_VERSION = 8,
	T_OFF_FLAGS = 12,
	T_OFF_CAPACITY = 16,
	T_OFF_MAXMSG = 24,
	T_OFF_SUBS = 28,
	T_OFF_HISTORY = 32,
	T_OFF_ID = 48,
	T_OFF_TAIL = 64,
	T_OFF_OLDEST = 72,
	T_OFF_CLOSED = 80,
	T_OFF_SUB_WAIT = 84,
	T_OFF_PUB_WAIT = 128,
	T_OFF_JOIN_GEN = 132,
	T_OFF_PUB_STATE = 136,
	T_OFF_PUB_PID = 140,
	T_OFF_WANT = 144,
	T_OFF_PUB_ROLE = 192,
	T_OFF_TABLE = 256,
	T_ENTRY = 64,
	T_ENT_POS = 0,
	T_ENT_SEQ = 8,
	T_ENT_STATE = 16,
	T_ENT_PID = 20,
	T_ENT_ROLE = 24,
	T_PAGE = 4096,
	T_RECORD = 16,
	T_MAX_SUBS = 1024,
};

#define T_MAGIC 0x4349504f544d4853ULL /* "SHMTOPIC" */
#define T_FLAG_OVERWRITE 1u
#define T_MIN_CAPACITY 256ULL
enum { T_END = 0, T_DATA = 1, T_WRAP = 2 };

struct shmt {
	char name[256];
	int fd;
	uint8_t *base;
	size_t size;
	uint8_t *ring;
	uint64_t capacity, mask, header;
	uint32_t max_msg, nsubs, history;
	int overwrite;
	uint8_t id[16];
	int light;

	int active, slot;
	uint32_t gen;
	uint64_t pos, seq; /* the next record to read, the next message's number */
	uint64_t waited;   /* seq when the last wait began (see slip) */
	uint64_t missed;
};

static inline _Atomic uint64_t *t64(const shmt *t, size_t off) { return (_Atomic uint64_t *)(void *)(t->base + off); }
static inline _Atomic uint32_t *t32(const shmt *t, size_t off) { return (_Atomic uint32_t *)(void *)(t->base + off); }
static inline _Atomic uint64_t *tword(const shmt *t, uint64_t roff) { return (_Atomic uint64_t *)(void *)(t->ring + roff); }
static inline size_t entry_off(int i) { return T_OFF_TABLE + (size_t)i * T_ENTRY; }
static inline uint64_t t_rec_size(uint64_t n) { return (n + T_RECORD + 15) & ~15ULL; }
static inline uint64_t t_max_message_for(uint64_t capacity)
{
	uint64_t m = capacity / 2 - 2 * T_RECORD;
	return m > (1ULL << 31) ? 1ULL << 31 : m;
}

static inline void t_publish(shmt *t, _Atomic uint64_t *w, uint64_t v)
{
	if (t->light)
		atomic_store_explicit(w, v, memory_order_release);
	else
		atomic_store(w, v);
}

static inline uint64_t t_oldest(const shmt *t) { return atomic_load(t64(t, T_OFF_OLDEST)); }

static int t_role_lock(shmt *t, size_t off, short type, int cmd)
{
	struct flock lk = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	if (fcntl(t->fd, cmd, &lk) < 0)
		return -errno;
	return cmd == F_OFD_GETLK ? lk.l_type == F_WRLCK : 0;
}

/* t_check_size reports SHMQ_EFAULT when the object shrank below the
 * topic's size while mapped. */
static int t_check_size(shmt *t, const char *op)
{
	struct stat st;
	if (fstat(t->fd, &st) < 0)
		return fail(-errno, op, t->name, "fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size < t->header + t->capacity)
		return fail(SHMQ_EFAULT, op, t->name, "the object was truncated to %lld bytes while mapped; the topic needs %llu",
		            (long long)st.st_size, (unsigned long long)(t->header + t->capacity));
	return 0;
}

static int t_corrupt_record(shmt *t, const char *op, uint64_t pos, const char *field, uint64_t val, const char *want)
{
	int rc = t_check_size(t, op);
	if (rc < 0)
		return rc;
	return fail(SHMQ_ECORRUPT, op, t->name, "topic is corrupt: record at position %llu (ring offset %llu, segment offset %llu): %s %llu, want %s",
	            (unsigned long long)pos, (unsigned long long)(pos & t->mask), (unsigned long long)(t->header + (pos & t->mask)), field,
	            (unsigned long long)val, want);
}

static int t_check_cursors(shmt *t, const char *op, uint64_t tail, uint64_t oldest)
{
	if (tail % T_RECORD || oldest % T_RECORD || oldest > tail || tail - oldest > t->capacity)
		return fail(SHMQ_ECORRUPT, op, t->name,
		            "topic is corrupt: cursors tail %llu (header offset %d) and oldest %llu (header offset %d) are not multiples of %d with oldest <= tail <= oldest + capacity %llu",
		            (unsigned long long)tail, T_OFF_TAIL, (unsigned long long)oldest, T_OFF_OLDEST, T_RECORD, (unsigned long long)t->capacity);
	return 0;
}

int shmt_open(const char *name, const char *dir, shmt **out)
{
	const char *n, *op = "topic open";
	char path[4096];
	if (!out)
		return fail(SHMQ_EINVAL, op, name ? name : "(null)", "invalid argument");
	int rc = clean_name(name, op, &n);
	if (rc)
		return rc;
	if (object_path(dir, n, path, sizeof path))
		return fail(SHMQ_EINVAL, op, n, "directory name too long");
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(-errno, op, n, "%s", strerror(errno));
	void *base;
	size_t size;
	int mrc = map_object(fd, T_PAGE, SHMT_ENOTTOPIC, "topic", op, n, &base, &size);
	if (mrc < 0)
		return mrc;
	uint8_t *b = base;
	uint64_t magic = atomic_load((_Atomic uint64_t *)(void *)(b + T_OFF_MAGIC)), capacity;
	uint32_t version, flags, maxmsg, nsubs, history;
	memcpy(&version, b + T_OFF_VERSION, 4);
	memcpy(&flags, b + T_OFF_FLAGS, 4);
	memcpy(&capacity, b + T_OFF_CAPACITY, 8);
	memcpy(&maxmsg, b + T_OFF_MAXMSG, 4);
	memcpy(&nsubs, b + T_OFF_SUBS, 4);
	memcpy(&history, b + T_OFF_HISTORY, 4);
	uint64_t header = ((uint64_t)T_OFF_TABLE + (uint64_t)nsubs * T_ENTRY + T_PAGE - 1) / T_PAGE * T_PAGE;
	rc = 0;
	if (magic != T_MAGIC)
		rc = fail(SHMT_ENOTTOPIC, op, n, "not a topic: magic %#018llx, want %#018llx", (unsigned long long)magic, T_MAGIC);
	else if (version != SHMT_LAYOUT_VERSION)
		rc = fail(SHMQ_EVERSION, op, n, "unsupported topic layout version: %u, this library reads %d", version, SHMT_LAYOUT_VERSION);
	else if (flags & ~T_FLAG_OVERWRITE)
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: header field flags at offset %d: unknown bits %#x", T_OFF_FLAGS, flags & ~T_FLAG_OVERWRITE);
	else if (!is_pow2(capacity) || capacity < T_MIN_CAPACITY || capacity > SHMQ_MAX_CAPACITY)
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: header field capacity at offset %d: %llu is not a power of two in [%llu, %llu]",
		          T_OFF_CAPACITY, (unsigned long long)capacity, T_MIN_CAPACITY, SHMQ_MAX_CAPACITY);
	else if (maxmsg > t_max_message_for(capacity))
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: header field max message at offset %d: %u is more than %llu allowed by capacity %llu",
		          T_OFF_MAXMSG, maxmsg, (unsigned long long)t_max_message_for(capacity), (unsigned long long)capacity);
	else if (nsubs < 1 || nsubs > T_MAX_SUBS)
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: header field subscribers at offset %d: %u is not in [1, %d]", T_OFF_SUBS, nsubs, T_MAX_SUBS);
	else if (history > capacity / T_RECORD)
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: header field history at offset %d: %u is more than the %llu records capacity %llu holds",
		          T_OFF_HISTORY, history, (unsigned long long)(capacity / T_RECORD), (unsigned long long)capacity);
	else if ((uint64_t)size < header + capacity)
		rc = fail(SHMQ_ECORRUPT, op, n, "topic is corrupt: the object has %zu bytes, a topic of capacity %llu with %u subscribers needs %llu", size,
		          (unsigned long long)capacity, nsubs, (unsigned long long)(header + capacity));
	shmt *t = NULL;
	if (!rc && !(t = calloc(1, sizeof *t)))
		rc = fail(-ENOMEM, op, n, NULL);
	if (rc) {
		munmap(base, size);
		close(fd);
		return rc;
	}
	snprintf(t->name, sizeof t->name, "%s", n);
	t->fd = fd;
	t->base = b;
	t->size = size;
	t->header = header;
	t->ring = b + header;
	t->capacity = capacity;
	t->mask = capacity - 1;
	t->max_msg = maxmsg;
	t->nsubs = nsubs;
	t->history = history;
	t->overwrite = (flags & T_FLAG_OVERWRITE) != 0;
	memcpy(t->id, b + T_OFF_ID, 16);
	t->light = asymmetric();
	*out = t;
	return 0;
}

static void t_wake_publisher(shmt *t)
{
	_Atomic uint32_t *w = t32(t, T_OFF_PUB_WAIT);
	if (atomic_load(w) != 0 && atomic_exchange(w, 0) != 0)
		futex_wake_all(w);
}

/* t_record_at checks the record header at pos, which must carry sequence
 * seq: 1 and the position and sequence after it for a data or wrap record,
 * 0 for the end marker, < 0 for a record that breaks the rules. */
static int t_record_at(shmt *t, const char *op, uint64_t pos, uint64_t seq, uint64_t *next, uint64_t *next_seq)
{
	uint64_t o = pos & t->mask;
	uint64_t s = atomic_load(tword(t, o));
	uint64_t w = atomic_load(tword(t, o + 8));
	uint64_t n = (uint32_t)w;
	uint32_t kind = (uint32_t)(w >> 32);
	char want[96];
	if (s != seq) {
		snprintf(want, sizeof want, "%llu", (unsigned long long)seq);
		return t_corrupt_record(t, op, pos, "sequence", s, want);
	}
	switch (kind) {
	case T_DATA:
		if (n > t->max_msg || o + t_rec_size(n) > t->capacity) {
			snprintf(want, sizeof want, "at most the maximum message %u, within the ring", t->max_msg);
			return t_corrupt_record(t, op, pos, "length", n, want);
		}
		*next = pos + t_rec_size(n);
		*next_seq = seq + 1;
		return 1;
	case T_WRAP:
		if (o == 0 || n != t->capacity - o - T_RECORD) {
			snprintf(want, sizeof want, "%llu to the ring's end, not at offset 0", (unsigned long long)(t->capacity - o - T_RECORD));
			return t_corrupt_record(t, op, pos, "wrap length", n, want);
		}
		*next = pos + t->capacity - o;
		*next_seq = seq;
		return 1;
	case T_END:
		return 0;
	}
	return t_corrupt_record(t, op, pos, "kind", kind, "a known record kind");
}

/* t_choose_start reads oldest and tail after the join was announced and
 * returns where the subscriber starts: with the topic's first message
 * while the ring still holds it (oldest is at position 0, where message 0
 * is), else at tail, or up to history messages before it that the ring
 * still holds. */
static int t_choose_start(shmt *t, uint64_t *start, uint64_t *seq)
{
	const char *op = "topic subscribe";
	for (int attempt = 0; attempt < 1000; attempt++) {
		uint64_t oldest = t_oldest(t);
		uint64_t tail = atomic_load(t64(t, T_OFF_TAIL));
		int rc = t_check_cursors(t, op, tail, oldest);
		if (rc < 0) {
			/* An overwrite publisher, which never waits, went more than
			 * the ring on between the two loads: look again. */
			if (t->overwrite && t_oldest(t) != oldest)
				continue;
			return rc;
		}
		uint64_t tail_seq = atomic_load(tword(t, tail & t->mask));
		uint64_t pos = tail, s = tail_seq;
		rc = 0;
		if (oldest == 0) {
			pos = 0;
			s = 0;
		} else if (t->history > 0 && oldest < tail) {
			pos = oldest;
			s = atomic_load(tword(t, oldest & t->mask));
			if (tail_seq < s || tail_seq - s > (tail - oldest) / T_RECORD) {
				char want[96];
				snprintf(want, sizeof want, "from %llu (the oldest's) to %llu more", (unsigned long long)s,
				         (unsigned long long)((tail - oldest) / T_RECORD));
				rc = t_corrupt_record(t, op, tail, "sequence", tail_seq, want);
			} else {
				uint64_t kept = tail_seq - s, skip = kept > t->history ? kept - t->history : 0, first = s;
				while (rc >= 0 && s - first < skip) {
					uint64_t np = 0, ns = 0;
					rc = t_record_at(t, op, pos, s, &np, &ns);
					if (rc == 0 || (rc > 0 && np > tail))
						rc = t_corrupt_record(t, op, pos, "kind", T_END, "a committed record below tail");
					if (rc > 0)
						pos = np, s = ns;
				}
			}
		}
		uint64_t now = t_oldest(t);
		if (t->overwrite && now != oldest && (rc < 0 || now > pos))
			continue; /* overtaken while choosing */
		if (rc < 0)
			return rc;
		*start = pos;
		*seq = s;
		return 0;
	}
	return fail(SHMQ_ECORRUPT, op, t->name, "topic is corrupt: cursor oldest at header offset %d passed each of 1000 starts chosen behind it",
	            T_OFF_OLDEST);
}

int shmt_subscribe(shmt *t)
{
	const char *op = "topic subscribe";
	if (!t)
		return fail(SHMQ_EINVAL, op, "(null)", "invalid argument");
	if (t->active)
		return 0;
	int slot = -1;
	for (uint32_t i = 0; i < t->nsubs && slot < 0; i++) {
		int rc = t_role_lock(t, entry_off((int)i) + T_ENT_ROLE, F_WRLCK, F_OFD_SETLK);
		if (rc == 0)
			slot = (int)i;
		else if (rc != -EAGAIN && rc != -EACCES)
			return fail(rc, op, t->name, "locking the role byte of subscriber entry %u: %s", i, strerror(-rc));
	}
	if (slot < 0)
		return fail(SHMQ_EBUSY, op, t->name, "another live process holds this role: all %u subscriber entries are held by live processes", t->nsubs);
	size_t e = entry_off(slot);
	uint32_t gen = ((atomic_load(t32(t, e + T_ENT_STATE)) >> 1) + 1) & 0x7fffffffu;
	atomic_store(t64(t, e + T_ENT_POS), 0);
	atomic_store(t64(t, e + T_ENT_SEQ), 0);
	atomic_store(t32(t, e + T_ENT_PID), (uint32_t)getpid());
	atomic_store(t32(t, e + T_ENT_STATE), gen << 1 | 1);
	atomic_fetch_add(t32(t, T_OFF_JOIN_GEN), 1);
	/* The publisher stores oldest and then loads join gen: the barrier
	 * gives that pair its store-load order; without it, a pause lets the
	 * publisher's store buffer drain. */
	if (heavy() < 0) {
		struct timespec ts = {0, HEAVY_FALLBACK_NS};
		nanosleep(&ts, NULL);
	}
	uint64_t start = 0, seq = 0;
	int rc = t_choose_start(t, &start, &seq);
	if (rc < 0) {
		uint32_t v = gen << 1 | 1;
		atomic_compare_exchange_strong(t32(t, e + T_ENT_STATE), &v, gen << 1);
		t_role_lock(t, e + T_ENT_ROLE, F_UNLCK, F_OFD_SETLK);
		return rc;
	}
	atomic_store(t64(t, e + T_ENT_SEQ), seq);
	t_publish(t, t64(t, e + T_ENT_POS), start);
	t->active = 1;
	t->slot = slot;
	t->gen = gen;
	t->pos = start;
	t->seq = seq;
	t->waited = seq;
	t_wake_publisher(t);
	return 0;
}

/* t_lag moves an overwrite subscriber that oldest passed to oldest and
 * returns SHMT_ELAGGED with the number of messages skipped in t->missed. */
static int t_lag(shmt *t)
{
	const char *op = "topic receive";
	uint64_t c = t->pos;
	for (int i = 0; i < 1 << 16; i++) {
		uint64_t oldest = t_oldest(t);
		if (oldest <= c)
			return fail(SHMQ_ECORRUPT, op, t->name, "topic is corrupt: cursor oldest at header offset %d moved back from after position %llu to %llu",
			            T_OFF_OLDEST, (unsigned long long)c, (unsigned long long)oldest);
		int rc = t_check_cursors(t, op, atomic_load(t64(t, T_OFF_TAIL)), oldest);
		if (rc < 0) {
			/* The publisher, which never waits here, went more than the
			 * ring on between the two loads: look again. */
			if (t_oldest(t) != oldest)
				continue;
			return rc;
		}
		uint64_t o = oldest & t->mask;
		uint64_t seq = atomic_load(tword(t, o));
		uint32_t kind = (uint32_t)(atomic_load(tword(t, o + 8)) >> 32);
		if (t_oldest(t) != oldest)
			continue;
		if (kind != T_END && kind != T_DATA && kind != T_WRAP)
			return t_corrupt_record(t, op, oldest, "kind", kind, "a known record kind");
		if (seq < t->seq || seq - t->seq > (oldest - c) / T_RECORD) {
			char want[96];
			snprintf(want, sizeof want, "from %llu to %llu more (the records between)", (unsigned long long)t->seq,
			         (unsigned long long)((oldest - c) / T_RECORD));
			return t_corrupt_record(t, op, oldest, "sequence", seq, want);
		}
		t->missed = seq - t->seq;
		t->pos = oldest;
		t->seq = seq;
		size_t e = entry_off(t->slot);
		t_publish(t, t64(t, e + T_ENT_SEQ), seq);
		t_publish(t, t64(t, e + T_ENT_POS), oldest);
		return fail(SHMT_ELAGGED, op, t->name, "subscriber fell behind: missed %llu message%s", (unsigned long long)t->missed,
		            t->missed == 1 ? "" : "s");
	}
	return fail(SHMQ_ECORRUPT, op, t->name, "topic is corrupt: cursor oldest at header offset %d moved on every one of %d looks at the record there",
	            T_OFF_OLDEST, 1 << 16);
}

static int t_passed(shmt *t, uint64_t c) { return t->overwrite && t_oldest(t) > c; }

/* t_ready: 1 when a record may be at the position (or an overwrite
 * subscriber was passed), SHMQ_EOF when the topic is closed and drained,
 * SHMQ_EABORTED when it is aborted and drained (§10.6). */
static int t_ready(shmt *t)
{
	uint64_t c = t->pos;
	_Atomic uint64_t *w = tword(t, (c & t->mask) + 8);
	if ((uint32_t)(atomic_load(w) >> 32) != T_END || t_passed(t, c))
		return 1;
	/* The publisher commits before it closes: look again after closed. */
	uint32_t closed = atomic_load(t32(t, T_OFF_CLOSED));
	if (closed == CLOSED_OPEN || (uint32_t)(atomic_load(w) >> 32) != T_END)
		return 0;
	if (closed == CLOSED_END)
		return SHMQ_EOF;
	if (closed == CLOSED_ABORTED)
		return fail(SHMQ_EABORTED, "topic receive", t->name, "the publisher aborted the stream");
	return fail(SHMQ_ECORRUPT, "topic receive", t->name, "topic is corrupt: header field closed at offset %d: %u, want %d, %d or %d", T_OFF_CLOSED,
	            closed, CLOSED_OPEN, CLOSED_END, CLOSED_ABORTED);
}

/* t_publisher_dead: SHMQ_EPEERDEAD when a publisher held the role and its
 * role byte is no longer locked. */
static int t_publisher_dead(shmt *t)
{
	if (atomic_load(t32(t, T_OFF_PUB_STATE)) == 0)
		return 0;
	if (t_role_lock(t, T_OFF_PUB_ROLE, F_WRLCK, F_OFD_GETLK) != 0)
		return 0; /* held, or the lock call failed: not proven dead */
	if (atomic_load(t32(t, T_OFF_PUB_STATE)) == 0)
		return 0;
	return fail(SHMQ_EPEERDEAD, "topic receive", t->name, "peer process died: publisher pid %u", atomic_load(t32(t, T_OFF_PUB_PID)));
}

static int t_periodic(shmt *t, int64_t deadline, int64_t now, int64_t *last)
{
	const char *op = "topic receive";
	if (deadline >= 0 && now >= deadline)
		return fail(SHMQ_ETIMEDOUT, op, t->name, NULL);
	if (now - *last < PEER_CHECK_NS)
		return 0;
	*last = now;
	int rc = t_check_size(t, op);
	if (rc < 0)
		return rc;
	if ((rc = t_publisher_dead(t)) < 0) {
		int r = t_ready(t);
		return r ? r : rc;
	}
	return 0;
}

/* publisher_waits stops a topic subscriber's slip: a lossless publisher
 * waits for it to move past its position (pub want beyond it). The
 * publisher stores pub want only after it flushed what it published, and
 * never past its tail, so there is a record to read then. */
static int publisher_waits(const void *arg)
{
	const shmt *t = arg;
	return atomic_load_explicit(t64(t, T_OFF_WANT), memory_order_relaxed) > t->pos;
}

/* t_wait waits for a record at the position: spin, then sleep on sub wait
 * (advertise, barrier, look again, futex wait). */
static int t_wait(shmt *t, struct limit *lim, int block)
{
	const char *op = "topic receive";
	int r = t_ready(t);
	if (r)
		return r < 0 ? r : 0;
	if (!block)
		return fail(SHMQ_EEMPTY, op, t->name, "topic is empty");
	slip(t->seq - t->waited, lim, publisher_waits, t);
	t->waited = t->seq;
	/* The clock is first read after 64 looks, as in await. */
	int64_t start = 0, last = 0, deadline = -1;
	for (long i = 1;; i++) {
		if ((r = t_ready(t)) != 0)
			return r < 0 ? r : 0;
		if (i % 64)
			continue;
		int64_t now = now_ns();
		if (i == 64) {
			start = last = now;
			deadline = deadline_at(lim, now);
		}
		if ((r = t_periodic(t, deadline, now, &last)) != 0)
			return r < 0 ? r : 0;
		if (now - start >= SPIN_NS)
			break;
	}
	_Atomic uint32_t *word = t32(t, T_OFF_SUB_WAIT);
	for (;;) {
		atomic_store(word, 1);
		int hv = heavy();
		if ((r = t_ready(t)) != 0)
			return r < 0 ? r : 0;
		int64_t slice = hv < 0 ? HEAVY_FALLBACK_NS : PEER_CHECK_NS;
		if (deadline >= 0) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return fail(SHMQ_ETIMEDOUT, op, t->name, NULL);
			if (left < slice)
				slice = left;
		}
		if (futex_wait(word, 1, slice) == -EINTR)
			return fail(SHMQ_EINTR, op, t->name, NULL);
		if ((r = t_ready(t)) != 0)
			return r < 0 ? r : 0;
		if ((r = t_periodic(t, deadline, now_ns(), &last)) != 0)
			return r < 0 ? r : 0;
	}
}

/* t_next finds the next message at the position, passing wrap records:
 * its payload's ring offset and length, and the ring bytes to its end.
 * Every field is read once and checked before use; on an overwrite topic a
 * field that fails its check after oldest passed the position is a lap. */
static int t_next(shmt *t, struct limit *lim, int block, uint64_t *off, uint32_t *len, uint64_t *adv)
{
	const char *op = "topic receive";
	char want[96];
	for (;;) {
		uint64_t c = t->pos, o = c & t->mask;
		uint64_t w = atomic_load(tword(t, o + 8));
		uint64_t length = (uint32_t)w;
		uint32_t kind = (uint32_t)(w >> 32);
		if (kind == T_END) {
			if (t_passed(t, c))
				return t_lag(t);
			uint64_t s = atomic_load(tword(t, o));
			if (s != t->seq) {
				/* The publisher may have lapped the record since
				 * the look at oldest above: look again. */
				if (t_passed(t, c))
					return t_lag(t);
				snprintf(want, sizeof want, "%llu", (unsigned long long)t->seq);
				return t_corrupt_record(t, op, c, "end marker's sequence", s, want);
			}
			int rc = t_wait(t, lim, block);
			if (rc < 0)
				return rc;
			continue;
		}
		uint64_t seq = atomic_load(tword(t, o));
		if (seq != t->seq) {
			if (t_passed(t, c))
				return t_lag(t);
			snprintf(want, sizeof want, "%llu", (unsigned long long)t->seq);
			return t_corrupt_record(t, op, c, "sequence", seq, want);
		}
		switch (kind) {
		case T_WRAP:
			if (o == 0 || length != t->capacity - o - T_RECORD) {
				if (t_passed(t, c))
					return t_lag(t);
				snprintf(want, sizeof want, "%llu to the ring's end, not at offset 0", (unsigned long long)(t->capacity - o - T_RECORD));
				return t_corrupt_record(t, op, c, "wrap length", length, want);
			}
			if (t_passed(t, c))
				return t_lag(t);
			t->pos += t->capacity - o;
			break;
		case T_DATA:
			if (length > t->max_msg || o + t_rec_size(length) > t->capacity) {
				if (t_passed(t, c))
					return t_lag(t);
				snprintf(want, sizeof want, "at most the maximum message %u, within the ring", t->max_msg);
				return t_corrupt_record(t, op, c, "length", length, want);
			}
			*off = o + T_RECORD;
			*len = (uint32_t)length;
			*adv = t_rec_size(length);
			return 0;
		default:
			if (t_passed(t, c))
				return t_lag(t);
			return t_corrupt_record(t, op, c, "kind", kind, "a known record kind");
		}
	}
}

/* t_copy copies n bytes at ring offset off to buf in 8-byte atomic loads,
 * so that the check of oldest after it orders after every one of them
 * (the seqlock of an overwrite topic). The record's padding makes whole
 * words safe to read. */
static void t_copy(shmt *t, void *buf, uint64_t off, uint32_t n)
{
	uint8_t *dst = buf;
	for (uint64_t i = 0; i < n; i += 8) {
		uint64_t v = atomic_load_explicit(tword(t, off + i), memory_order_relaxed);
		memcpy(dst + i, &v, n - i < 8 ? n - i : 8);
	}
	atomic_thread_fence(memory_order_acquire);
}

int shmt_receive(shmt *t, void *buf, size_t cap, size_t *len, int64_t timeout_ns)
{
	const char *op = "topic receive";
	if (!t || !len || (cap && !buf))
		return fail(SHMQ_EINVAL, op, t ? t->name : "(null)", "invalid argument");
	if (!t->active) {
		int rc = shmt_subscribe(t);
		if (rc < 0)
			return rc;
	}
	uint64_t off = 0, adv = 0;
	uint32_t n = 0;
	struct limit lim = limit_of(timeout_ns);
	int rc = t_next(t, &lim, timeout_ns != 0, &off, &n, &adv);
	if (rc < 0)
		return rc;
	*len = n;
	if (n > cap)
		return fail(SHMQ_ETOOLARGE, op, t->name, "message too large: %u bytes for a buffer of %zu", n, cap);
	if (t->overwrite) {
		t_copy(t, buf, off, n);
		if (t_oldest(t) > t->pos)
			return t_lag(t);
	} else if (n) {
		copy_msg(buf, t->ring + off, n);
	}
	uint64_t prev = t->pos;
	t->pos += adv;
	t->seq++;
	size_t e = entry_off(t->slot);
	t_publish(t, t64(t, e + T_ENT_SEQ), t->seq);
	t_publish(t, t64(t, e + T_ENT_POS), t->pos);
	if (atomic_load(t32(t, T_OFF_PUB_WAIT)) != 0) {
		/* Only the step past the publisher's target wakes it. */
		uint64_t want = atomic_load(t64(t, T_OFF_WANT));
		if (prev < want && want <= t->pos)
			t_wake_publisher(t);
	}
	return 0;
}

uint64_t shmt_missed(const shmt *t) { return t ? t->missed : 0; }
uint64_t shmt_sequence(const shmt *t) { return t && t->active ? t->seq : 0; }
uint64_t shmt_capacity(const shmt *t) { return t->capacity; }
uint32_t shmt_max_message(const shmt *t) { return t->max_msg; }
uint32_t shmt_max_subscribers(const shmt *t) { return t->nsubs; }
int shmt_is_overwrite(const shmt *t) { return t->overwrite; }
const char *shmt_name(const shmt *t) { return t->name; }
void shmt_id(const shmt *t, uint8_t id[16]) { memcpy(id, t->id, 16); }

int shmt_close(shmt *t)
{
	if (!t)
		return 0;
	if (t->active) {
		size_t e = entry_off(t->slot);
		uint32_t v = t->gen << 1 | 1;
		atomic_compare_exchange_strong(t32(t, e + T_ENT_STATE), &v, t->gen << 1);
		t_role_lock(t, e + T_ENT_ROLE, F_UNLCK, F_OFD_SETLK);
		t->active = 0;
		t_wake_publisher(t);
	}
	munmap(t->base, t->size);
	close(t->fd);
	free(t);
	return 0;
}

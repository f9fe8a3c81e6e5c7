/*
 * pingpong: the machine's floor for a round trip between two CPUs, outside
 * Go's runtime. Two processes, pinned to CPUs 0 and 1, flip one word of a
 * shared anonymous mapping: the parent stores an odd value, the child
 * answers with the next even one. The parent times every round trip with
 * clock_gettime(CLOCK_MONOTONIC) and prints the percentiles on one line.
 *
 *	gcc -O2 -o /tmp/pingpong bench/testdata/pingpong.c
 *	/tmp/pingpong [round-trips]        (default 2000000)
 *
 * It tells the machine's own latency tail from one that Go or shm adds:
 * whatever this program sees, no Go transport can beat.
 *
 * The row "c-pingpong" of shm bench runs it in its second form, with
 * messages of SIZE bytes copied in and out as a transport's are:
 *
 *	/tmp/pingpong -m SIZE WARM_NS MEASURE_NS DRIVER_CPU PEER_CPU [CAPACITY]
 *
 * Each direction has a slot in the shared mapping: the data, then a
 * sequence word (i+1 once it holds message i) that the sender stores with a
 * release store after copying the message in from a private buffer; the
 * receiver polls it and copies the message out into another. With
 * CAPACITY, each direction has a ring of as many slots as CAPACITY bytes
 * hold (at least two), message i in slot i modulo their number, as in
 * ring.c's stream form: the round trips of a ring, whose messages move on
 * to new cache lines, where one slot keeps using the same ones. The rows
 * "c-ring" of shm bench's round trips run it so. A sender never needs to
 * ask whether a slot is free: the answer to message i says that message
 * i, and every one before it, was taken.
 *
 * The parent times round trips for WARM_NS nanoseconds without recording
 * them, then for MEASURE_NS, and prints the log-linear histogram of shm
 * bench (package bench, hist.go) for the Go side to read back:
 *
 *	bucket INDEX COUNT        (one line per non-empty bucket)
 *	total N sum NS min NS max NS
 *
 * A CPU of -1 leaves that process unpinned. Every message starts with its
 * sequence number, which both sides check (exit status 1 when one is
 * wrong; 2 for bad arguments).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP (1ull << 62)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* answer echoes every odd value as the next even one until STOP. */
static void answer(uint64_t *word)
{
	for (;;) {
		uint64_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (v >= STOP)
			_exit(0);
		if (v & 1)
			__atomic_store_n(word, v + 1, __ATOMIC_RELEASE);
	}
}

/* trip sends ping v (odd) and waits for its answer; it returns the next ping. */
static uint64_t trip(uint64_t *word, uint64_t v)
{
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != v + 1)
		;
	return v + 2;
}

/* The histogram of package bench: values below 256 exact, above that 128
 * linear buckets per power of two. */
#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

static int bucket_of(uint64_t v)
{
	int msb = 63 - __builtin_clzll(v | 1);
	if (msb <= SUB_BITS)
		return (int)v;
	int shift = msb - SUB_BITS;
	return shift * SUB_COUNT + (int)(v >> shift);
}

static size_t msg_size, slot_stride, slots = 1;

/* next_slot returns the slot after slot j: j itself with one slot. */
static size_t next_slot(size_t j) { return j + 1 == slots ? 0 : j + 1; }

static uint64_t *seq_at(unsigned char *slot) { return (uint64_t *)(slot + (msg_size + 7) / 8 * 8); }

/* put copies msg, numbered i, into slot and publishes it. */
static void put(unsigned char *slot, unsigned char *msg, uint64_t i)
{
	memcpy(msg, &i, 8);
	memcpy(slot, msg, msg_size);
	__atomic_store_n(seq_at(slot), i + 1, __ATOMIC_RELEASE);
}

/* get waits for message i in slot and copies it into buf; it returns 0
 * when the message is the stop message (seq STOP), 1 otherwise, and exits
 * when the message is not message i. */
static int get(unsigned char *slot, unsigned char *buf, uint64_t i)
{
	uint64_t v;
	while ((v = __atomic_load_n(seq_at(slot), __ATOMIC_ACQUIRE)) != i + 1)
		if (v == STOP)
			return 0;
	memcpy(buf, slot, msg_size);
	uint64_t got;
	memcpy(&got, buf, 8);
	if (got != i) {
		fprintf(stderr, "pingpong: message %lu arrived as %lu\n", (unsigned long)i, (unsigned long)got);
		_exit(1);
	}
	return 1;
}

static int messages(char **argv)
{
	long long sz = atoll(argv[2]), warm = atoll(argv[3]), measure = atoll(argv[4]);
	long long capacity = argv[7] ? atoll(argv[7]) : 0;
	int dcpu = atoi(argv[5]), pcpu = atoi(argv[6]);
	if (sz < 16 || sz > (1ll << 30) || warm < 0 || measure < 1 || (argv[7] && (capacity < 1 || capacity > (1ll << 32)))) {
		fprintf(stderr, "pingpong: want SIZE >= 16, WARM_NS >= 0, MEASURE_NS >= 1, CAPACITY from 1 to 2^32 bytes\n");
		return 2;
	}
	msg_size = (size_t)sz;
	slot_stride = ((msg_size + 7) / 8 * 8 + 8 + 63) / 64 * 64;
	if (argv[7]) {
		slots = (size_t)capacity / slot_stride;
		slots = slots < 2 ? 2 : slots;
	}
	unsigned char *down = mmap(NULL, 2 * slots * slot_stride, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	unsigned char *msg = aligned_alloc(64, slot_stride), *buf = aligned_alloc(64, slot_stride);
	uint64_t *counts = calloc(BUCKETS, sizeof *counts);
	if (down == MAP_FAILED || msg == NULL || buf == NULL || counts == NULL) {
		perror("pingpong: memory");
		return 1;
	}
	unsigned char *up = down + slots * slot_stride;
	memset(msg, 0xa5, msg_size);
	pid_t child = fork();
	if (child < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		if (pcpu >= 0 && pin(pcpu) != 0) {
			perror("pingpong: pin the child");
			_exit(2);
		}
		for (uint64_t i = 0, j = 0; get(down + j * slot_stride, buf, i); i++, j = next_slot(j)) {
			memcpy(msg, buf, msg_size);
			put(up + j * slot_stride, msg, i);
		}
		_exit(0);
	}
	if (dcpu >= 0 && pin(dcpu) != 0) {
		perror("pingpong: pin the parent");
		return 2;
	}
	uint64_t i = 0, j = 0, start = now_ns(), prev;
	for (; now_ns() - start < (uint64_t)warm || i == 0; i++, j = next_slot(j)) {
		put(down + j * slot_stride, msg, i);
		get(up + j * slot_stride, buf, i);
	}
	uint64_t n = 0, sum = 0, lo = UINT64_MAX, hi = 0;
	start = prev = now_ns();
	for (;; i++, j = next_slot(j)) {
		put(down + j * slot_stride, msg, i);
		get(up + j * slot_stride, buf, i);
		uint64_t t = now_ns(), d = t - prev;
		prev = t;
		counts[bucket_of(d)]++;
		n++;
		sum += d;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		if (t - start >= (uint64_t)measure)
			break;
	}
	/* The child waits for message i+1, in the next slot. */
	__atomic_store_n(seq_at(down + next_slot(j) * slot_stride), STOP, __ATOMIC_RELEASE);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pingpong: the child failed\n");
		return 1;
	}
	for (int b = 0; b < BUCKETS; b++)
		if (counts[b])
			printf("bucket %d %lu\n", b, (unsigned long)counts[b]);
	printf("total %lu sum %lu min %lu max %lu\n", (unsigned long)n, (unsigned long)sum, (unsigned long)lo, (unsigned long)hi);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-m") == 0) {
		if (argc != 7 && argc != 8) {
			fprintf(stderr, "usage: pingpong -m SIZE WARM_NS MEASURE_NS DRIVER_CPU PEER_CPU [CAPACITY]\n");
			return 2;
		}
		return messages(argv);
	}
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	if (n < 1000) {
		fprintf(stderr, "pingpong: want at least 1000 round trips, got %s\n", argv[1]);
		return 2;
	}
	uint64_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *rtt = malloc((size_t)n * sizeof *rtt);
	if (word == MAP_FAILED || rtt == NULL) {
		perror("pingpong: memory");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (child == 0) {
		if (pin(1) != 0)
			perror("pingpong: pin the child to CPU 1");
		answer(word);
	}
	if (pin(0) != 0)
		perror("pingpong: pin the parent to CPU 0");

	uint64_t v = 1;
	for (long i = 0; i < n / 10; i++) /* warm up */
		v = trip(word, v);
	uint64_t start = now_ns(), last = start;
	for (long i = 0; i < n; i++) {
		v = trip(word, v);
		uint64_t t = now_ns();
		rtt[i] = t - last;
		last = t;
	}
	__atomic_store_n(word, STOP, __ATOMIC_RELEASE);
	waitpid(child, NULL, 0);

	qsort(rtt, (size_t)n, sizeof *rtt, by_value);
	printf("round trips %ld  mean %.0fns  p50 %luns  p90 %luns  p99 %luns  p99.9 %luns  max %luns\n",
	       n, (double)(last - start) / (double)n, (unsigned long)rtt[n / 2],
	       (unsigned long)rtt[n * 9 / 10], (unsigned long)rtt[n * 99 / 100],
	       (unsigned long)rtt[n * 999 / 1000], (unsigned long)rtt[n - 1]);
	return 0;
}

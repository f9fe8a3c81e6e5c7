/*
 * ring: the C limit of a one-way stream between two processes, the row
 * "c-ring" of shm bench. A parent (the producer) and a forked child (the
 * consumer), pinned to two CPUs, move fixed-size messages through a
 * single-producer single-consumer ring in a shared anonymous mapping,
 * copying every message in from a private buffer and out into another,
 * both sides busy-polling. No Go runtime, no system call on the way.
 *
 *	gcc -O2 -o /tmp/ring bench/testdata/ring.c
 *	/tmp/ring MODE SIZE CAPACITY WARM_NS MEASURE_NS PRODUCER_CPU CONSUMER_CPU
 *
 * MODE is "stream" (one message at a time) or "batch" (up to BATCH at a
 * time); SIZE is the message size in bytes (16 or more), CAPACITY the
 * ring's size in bytes (it holds as many whole slots as fit, at least 2);
 * a CPU of -1 leaves that process unpinned. The producer sends for WARM_NS
 * nanoseconds, then for MEASURE_NS, then a stop message, and waits until the
 * consumer has taken it. It prints one line:
 *
 *	messages N ns T slots S
 *
 * N messages sent in the measured part, T nanoseconds from its start until
 * the consumer took the stop message, S slots in the ring. Exit status 1
 * when a message arrived out of order, 2 for bad arguments.
 *
 * Every message starts with its sequence number (8 bytes, counting from 0)
 * and a stop flag (8 bytes), which the consumer checks in its copy.
 *
 * Layouts. stream: slot j holds the data, then a sequence word, seq = i+1
 * once it holds message i, stored with a release store after the data; the
 * consumer polls the seq of the one slot it waits for, with a PAUSE
 * between looks. Slots start on cache lines: the stride is the size
 * rounded up to 8, plus 8, rounded up to 64 (packed slots, whose seq
 * shares a line with the next slot's data, measured slower: the consumer's
 * polling pulled that line from the producer while it wrote the next
 * message). The consumer publishes how many
 * messages it has taken (head) every quarter of the ring and when it finds
 * the ring empty; the producer reads head only when the ring looks full.
 * batch: slots hold data only (the stride: the size rounded up to 64);
 * the producer publishes a tail cursor once
 * per run of up to BATCH messages, the consumer reads it once per run,
 * takes up to BATCH messages and publishes head once.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define LINE 64

struct ctl {
	_Alignas(LINE) uint64_t head; /* messages taken; written by the consumer */
	_Alignas(LINE) uint64_t tail; /* batch: messages published; written by the producer */
	_Alignas(LINE) uint64_t done; /* the stop message's seq + 1, once taken */
	_Alignas(LINE) uint64_t bad;  /* non-zero: the consumer saw a wrong message */
};

static size_t size, stride, seq_off;
static uint64_t n; /* slots */
static struct ctl *ctl;
static unsigned char *slots;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu, const char *who)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0) {
		fprintf(stderr, "ring: pin the %s to CPU %d: ", who, cpu);
		perror("");
		_exit(2);
	}
}

static uint64_t *seq_of(uint64_t j) { return (uint64_t *)(slots + j * stride + seq_off); }

static uint64_t load(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static void store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* check reports whether buf holds message i; it records the first mismatch. */
static int check(const unsigned char *buf, uint64_t i)
{
	uint64_t got;
	memcpy(&got, buf, 8);
	if (got != i) {
		store(&ctl->bad, 1);
		fprintf(stderr, "ring: message %lu arrived as %lu\n", (unsigned long)i, (unsigned long)got);
		return 0;
	}
	return 1;
}

static int stopped(const unsigned char *buf)
{
	uint64_t stop;
	memcpy(&stop, buf + 8, 8);
	return stop != 0;
}

/* consume_stream takes messages one at a time until the stop message. */
static void consume_stream(unsigned char *buf)
{
	uint64_t i = 0, j = 0, published = 0, every = n / 4 ? n / 4 : 1;
	for (;; i++) {
		uint64_t *seq = seq_of(j);
		while (load(seq) != i + 1) {
			if (published != i) {
				store(&ctl->head, i);
				published = i;
			}
			__builtin_ia32_pause();
		}
		memcpy(buf, slots + j * stride, size);
		if (!check(buf, i))
			_exit(1);
		if (++j == n)
			j = 0;
		if (stopped(buf)) {
			store(&ctl->head, i + 1);
			store(&ctl->done, i + 1);
			_exit(0);
		}
		if (i + 1 - published >= every) {
			store(&ctl->head, i + 1);
			published = i + 1;
		}
	}
}

/* consume_batch takes up to BATCH messages per look at the tail. */
static void consume_batch(unsigned char *buf)
{
	uint64_t i = 0, j = 0;
	for (;;) {
		uint64_t t;
		while ((t = load(&ctl->tail)) == i)
			__builtin_ia32_pause();
		if (t - i > BATCH)
			t = i + BATCH;
		for (; i < t; i++) {
			memcpy(buf, slots + j * stride, size);
			if (!check(buf, i))
				_exit(1);
			if (++j == n)
				j = 0;
			if (stopped(buf)) {
				store(&ctl->head, i + 1);
				store(&ctl->done, i + 1);
				_exit(0);
			}
		}
		store(&ctl->head, i);
	}
}

struct producer {
	uint64_t i, j, head;
	unsigned char *msg;
};

/* room waits until the ring has a free slot, or fails when the consumer did. */
static void room(struct producer *p)
{
	while (p->i - p->head >= n) {
		p->head = load(&ctl->head);
		if (load(&ctl->bad))
			_exit(1);
	}
}

/* send_one copies message p->i into its slot and publishes it. */
static void send_one(struct producer *p, int stop)
{
	room(p);
	memcpy(p->msg, &p->i, 8);
	uint64_t s = stop;
	memcpy(p->msg + 8, &s, 8);
	memcpy(slots + p->j * stride, p->msg, size);
	store(seq_of(p->j), p->i + 1);
	p->i++;
	if (++p->j == n)
		p->j = 0;
}

/* send_batch copies up to k messages in, as many as fit at a time, and
 * publishes the tail once per run; the last one is a stop message if stop. */
static void send_batch(struct producer *p, uint64_t k, int stop)
{
	while (k > 0) {
		room(p);
		uint64_t room = n - (p->i - p->head);
		uint64_t run = k < room ? k : room;
		for (uint64_t r = 0; r < run; r++) {
			uint64_t s = stop && r == run - 1 && run == k;
			memcpy(p->msg, &p->i, 8);
			memcpy(p->msg + 8, &s, 8);
			memcpy(slots + p->j * stride, p->msg, size);
			p->i++;
			if (++p->j == n)
				p->j = 0;
		}
		store(&ctl->tail, p->i);
		k -= run;
	}
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: ring stream|batch SIZE CAPACITY WARM_NS MEASURE_NS PRODUCER_CPU CONSUMER_CPU\n");
		return 2;
	}
	int batch = strcmp(argv[1], "batch") == 0;
	if (!batch && strcmp(argv[1], "stream") != 0) {
		fprintf(stderr, "ring: mode %s is neither stream nor batch\n", argv[1]);
		return 2;
	}
	long long sz = atoll(argv[2]), capacity = atoll(argv[3]);
	long long warm = atoll(argv[4]), measure = atoll(argv[5]);
	int pcpu = atoi(argv[6]), ccpu = atoi(argv[7]);
	if (sz < 16 || sz > (1ll << 30) || capacity < 1 || capacity > (1ll << 40) || warm < 0 || measure < 1) {
		fprintf(stderr, "ring: want SIZE >= 16, CAPACITY >= 1, WARM_NS >= 0, MEASURE_NS >= 1\n");
		return 2;
	}
	size = (size_t)sz;
	size_t data = (size + 7) / 8 * 8;
	seq_off = data;
	stride = batch ? data : data + 8;
	stride = (stride + LINE - 1) / LINE * LINE;
	n = (uint64_t)capacity / stride;
	if (n < 2)
		n = 2;

	ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	slots = mmap(NULL, n * stride, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	unsigned char *buf = aligned_alloc(LINE, (data + LINE - 1) / LINE * LINE);
	if (ctl == MAP_FAILED || slots == MAP_FAILED || buf == NULL) {
		perror("ring: memory");
		return 1;
	}
	memset(buf, 0xa5, size);
	pid_t child = fork();
	if (child < 0) {
		perror("ring: fork");
		return 1;
	}
	if (child == 0) {
		/* The consumer busy-polls: it must not outlive the producer. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		pin(ccpu, "consumer");
		if (batch)
			consume_batch(buf);
		else
			consume_stream(buf);
	}
	pin(pcpu, "producer");

	struct producer p = {.msg = buf};
	uint64_t k = batch ? BATCH : 16; /* messages between looks at the clock */
	uint64_t start = now_ns(), first = 0;
	int measuring = 0;
	for (;;) {
		if (batch) {
			send_batch(&p, k, 0);
		} else {
			for (uint64_t r = 0; r < k; r++)
				send_one(&p, 0);
		}
		uint64_t t = now_ns();
		if (!measuring && t - start >= (uint64_t)warm) {
			measuring = 1;
			start = t;
			first = p.i;
		} else if (measuring && t - start >= (uint64_t)measure) {
			break;
		}
		if (load(&ctl->bad))
			break;
	}
	uint64_t msgs = p.i - first;
	if (batch)
		send_batch(&p, 1, 1);
	else
		send_one(&p, 1);
	while (load(&ctl->done) != p.i && !load(&ctl->bad))
		;
	uint64_t elapsed = now_ns() - start;
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ring: the consumer failed\n");
		return 1;
	}
	printf("messages %lu ns %lu slots %lu\n", (unsigned long)msgs, (unsigned long)elapsed, (unsigned long)n);
	return 0;
}

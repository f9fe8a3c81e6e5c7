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
 * docs/BENCHMARKS.md uses it to tell the machine's own latency tail from
 * one that Go or shm adds: whatever this program sees, no Go transport can
 * beat.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
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

int main(int argc, char **argv)
{
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

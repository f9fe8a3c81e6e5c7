/*
 * topicpeer: the C topic subscriber (c/shmq.h, shmt_*) for the interop
 * tests. Messages are those of crcMsg in python_test.go: an 8-byte
 * little-endian number, the payload, and the CRC-32 (IEEE) of both.
 *
 *   topicpeer sub NAME          join, print "ready", receive until the end;
 *                               check each message's number and checksum,
 *                               count lags; print "received R missed M",
 *                               and " aborted" after it for an aborted stream
 *   topicpeer hostile NAME MS   receive for MS milliseconds while another
 *                               process rewrites the topic: every call must
 *                               return a message or a documented error
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t crc32_ieee(const uint8_t *b, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static uint8_t buf[1 << 20];

static int sub(const char *name)
{
	shmt *t;
	int rc = shmt_open(name, NULL, &t);
	if (rc == 0)
		rc = shmt_subscribe(t);
	if (rc < 0) {
		printf("error %d: %s\n", rc, shmq_last_error());
		return 3;
	}
	printf("ready\n");
	fflush(stdout);
	uint64_t want = 0, received = 0, missed = 0;
	int aborted = 0;
	for (;;) {
		size_t n;
		rc = shmt_receive(t, buf, sizeof buf, &n, -1);
		if (rc == SHMT_ELAGGED) {
			want += shmt_missed(t);
			missed += shmt_missed(t);
			continue;
		}
		if (rc == SHMQ_EOF)
			break;
		if (rc == SHMQ_EABORTED) {
			aborted = 1;
			break;
		}
		if (rc < 0) {
			printf("error %d: %s\n", rc, shmq_last_error());
			return 3;
		}
		uint64_t seq;
		uint32_t sum;
		if (n < 12) {
			printf("bad message %llu: %zu bytes\n", (unsigned long long)want, n);
			return 1;
		}
		memcpy(&seq, buf, 8);
		memcpy(&sum, buf + n - 4, 4);
		if (sum != crc32_ieee(buf, n - 4)) {
			printf("bad message %llu: checksum\n", (unsigned long long)want);
			return 1;
		}
		if (seq != want || shmt_sequence(t) != want + 1) {
			printf("bad message %llu, want %llu (sequence %llu): lost, duplicated or reordered\n", (unsigned long long)seq,
			       (unsigned long long)want, (unsigned long long)shmt_sequence(t));
			return 1;
		}
		want++;
		received++;
	}
	printf("received %llu missed %llu%s\n", (unsigned long long)received, (unsigned long long)missed, aborted ? " aborted" : "");
	shmt_close(t);
	return 0;
}

static long since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int hostile(const char *name, long millis)
{
	static const int allowed[] = {SHMQ_EEMPTY, SHMQ_EOF,   SHMQ_ETIMEDOUT, SHMT_ENOTTOPIC, SHMQ_EVERSION, SHMQ_ECORRUPT,
	                              SHMQ_EPEERDEAD, SHMQ_EBUSY, SHMQ_ETOOLARGE, SHMT_ELAGGED,  SHMQ_EFAULT, SHMQ_EABORTED};
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	shmt *t = NULL;
	long ops = 0, ok = 0, errs = 0, corrupt = 0;
	while (since(&t0) < millis) {
		int rc = 0;
		if (!t)
			rc = shmt_open(name, NULL, &t);
		if (rc == 0) {
			size_t n;
			rc = shmt_receive(t, buf, sizeof buf, &n, 20 * 1000000LL);
		}
		ops++;
		if (rc == 0) {
			ok++;
			continue;
		}
		int known = 0;
		for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
			known |= rc == allowed[i];
		if (!known) {
			printf("undocumented error %d: %s\n", rc, shmq_last_error());
			return 1;
		}
		errs++;
		if (rc == SHMQ_ECORRUPT)
			corrupt++;
		if (rc != SHMQ_ETIMEDOUT && rc != SHMT_ELAGGED && t) {
			shmt_close(t); /* start over: open and join again */
			t = NULL;
		}
	}
	shmt_close(t);
	printf("done ops=%ld ok=%ld errors=%ld corrupt=%ld\n", ops, ok, errs, corrupt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "sub"))
		return sub(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hostile"))
		return hostile(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: topicpeer sub NAME | topicpeer hostile NAME MILLIS\n");
	return 2;
}

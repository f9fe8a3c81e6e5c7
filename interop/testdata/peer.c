/*
 * peer: the C side of the interop tests, on libshmq. Messages are made by
 * a generator both sides share (see message.go): a message of producer P
 * with sequence number S has a length drawn from (P, S) and bytes drawn
 * from (P, S); at 12 bytes or more it starts with P (u32) and S (u64), so a
 * multi-producer consumer can tell whose it is. Every message received is
 * checked byte for byte.
 *
 *   peer send NAME PROD COUNT MAXLEN MINLEN   send COUNT messages, then close
 *   peer recv NAME PROD COUNT MAXLEN MINLEN   receive and check COUNT, then expect EOF
 *   peer chaos-send NAME PROD MAXLEN MINLEN   send until killed, pausing inside reserve/commit
 *   peer chaos-recv NAME PROD MAXLEN MINLEN   receive and check until the producer dies
 *   peer hostile NAME MILLIS                  consume (receive, peek, batch peek) while another process rewrites the queue
 *   peer bench-send NAME SIZE COUNT           send COUNT messages of SIZE bytes, one at a time, then close
 *   peer bench-recv NAME                      receive until the end; "ready" once it is the consumer
 *   peer takeover NAME                        take the consumer, then the producer role with one try each;
 *                                             print each result; exit 3 when both said SHMQ_ECORRUPT
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t key(uint32_t prod, uint64_t seq) { return mix((uint64_t)prod << 40 ^ seq); }

static size_t msg_len(uint32_t prod, uint64_t seq, size_t maxlen, size_t minlen)
{
	return minlen + (size_t)(mix(key(prod, seq)) % (maxlen - minlen + 1));
}

static void fill(uint8_t *b, uint32_t prod, uint64_t seq, size_t n)
{
	uint64_t k = key(prod, seq), w = 0;
	for (size_t j = 0; j < n; j++) {
		if (j % 8 == 0)
			w = mix(k + j / 8);
		b[j] = (uint8_t)(w >> (8 * (j % 8)));
	}
	if (n >= 12) {
		memcpy(b, &prod, 4);
		memcpy(b + 4, &seq, 8);
	}
}

static uint8_t want[1 << 20];

/* check compares a received message with message (prod, seq). */
static int check(const uint8_t *b, size_t n, uint32_t prod, uint64_t seq, size_t maxlen, size_t minlen)
{
	size_t l = msg_len(prod, seq, maxlen, minlen);
	if (n != l) {
		printf("bad prod %u seq %llu: length %zu, want %zu\n", prod, (unsigned long long)seq, n, l);
		return -1;
	}
	fill(want, prod, seq, n);
	if (memcmp(b, want, n)) {
		printf("bad prod %u seq %llu: content differs\n", prod, (unsigned long long)seq);
		return -1;
	}
	return 0;
}

static int die(const char *what, int rc)
{
	printf("error %s: %d %s: %s\n", what, rc, shmq_strerror(rc), shmq_last_error());
	fflush(stdout);
	return 1;
}

static uint8_t buf[1 << 20];

static int do_send(shmq *q, uint32_t prod, uint64_t count, size_t maxlen, size_t minlen)
{
	static uint8_t bb[4][1 << 16];
	for (uint64_t s = 0; s < count;) {
		int rc;
		size_t n = msg_len(prod, s, maxlen, minlen);
		if (s % 7 == 3) { /* in place */
			void *p;
			if ((rc = shmq_reserve(q, n, -1, &p)) < 0)
				return die("reserve", rc);
			fill(p, prod, s, n);
			if ((rc = shmq_commit(q)) < 0)
				return die("commit", rc);
			s++;
		} else if (s % 11 == 5 && s + 4 <= count && maxlen <= sizeof bb[0]) { /* a batch */
			struct iovec iov[4];
			for (int i = 0; i < 4; i++) {
				size_t m = msg_len(prod, s + (uint64_t)i, maxlen, minlen);
				fill(bb[i], prod, s + (uint64_t)i, m);
				iov[i].iov_base = bb[i];
				iov[i].iov_len = m;
			}
			size_t sent;
			if ((rc = shmq_send_batch(q, iov, 4, -1, &sent)) < 0)
				return die("send batch", rc);
			s += 4;
		} else if (s % 11 == 8 && s + 6 <= count) { /* a packed batch */
			uint32_t lens[6];
			size_t off = 0;
			for (int i = 0; i < 6; i++) {
				lens[i] = (uint32_t)msg_len(prod, s + (uint64_t)i, maxlen, minlen);
				if (off + lens[i] > sizeof buf)
					return die("packed batch larger than the buffer", SHMQ_EINVAL);
				fill(buf + off, prod, s + (uint64_t)i, lens[i]);
				off += lens[i];
			}
			size_t sent;
			if ((rc = shmq_send_packed(q, buf, lens, 6, -1, &sent)) < 0)
				return die("send packed", rc);
			if (sent != 6)
				return die("send packed: fewer sent", SHMQ_EINVAL);
			s += 6;
		} else {
			fill(buf, prod, s, n);
			if ((rc = shmq_send(q, buf, n, -1)) < 0)
				return die("send", rc);
			s++;
		}
	}
	return 0;
}

static int do_recv(shmq *q, uint32_t prod, uint64_t count, size_t maxlen, size_t minlen)
{
	for (uint64_t s = 0; s < count; s++) {
		int rc;
		if (s % 13 == 7) { /* a batch in place, with a count and a byte limit */
			struct iovec iov[16];
			size_t k, most = count - s < 16 ? count - s : 16;
			static const size_t limits[] = {0, 1, 5000, 100000};
			if ((rc = shmq_peek_batch(q, 60LL * 1000000000, iov, most, limits[s % 4], &k)) < 0)
				return die("peek batch", rc);
			if (k < 1 || k > most)
				return die("peek batch: a count out of range", SHMQ_EINVAL);
			for (size_t i = 0; i < k; i++)
				if (check(iov[i].iov_base, iov[i].iov_len, prod, s + i, maxlen, minlen))
					return 1;
			if ((rc = shmq_release(q)) < 0)
				return die("release", rc);
			s += k - 1;
		} else if (s % 5 == 2) { /* in place */
			const void *p;
			size_t n;
			if ((rc = shmq_peek(q, 60LL * 1000000000, &p, &n)) < 0)
				return die("peek", rc);
			if (check(p, n, prod, s, maxlen, minlen))
				return 1;
			if ((rc = shmq_release(q)) < 0)
				return die("release", rc);
		} else {
			size_t n;
			if ((rc = shmq_receive(q, buf, sizeof buf, &n, 60LL * 1000000000)) < 0)
				return die("receive", rc);
			if (check(buf, n, prod, s, maxlen, minlen))
				return 1;
		}
	}
	size_t n;
	int rc = shmq_receive(q, buf, sizeof buf, &n, 60LL * 1000000000);
	if (rc != SHMQ_EOF)
		return die("receive after the last message (want EOF)", rc);
	printf("ok %llu\n", (unsigned long long)count);
	return 0;
}

static void pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static int chaos_send(shmq *q, uint32_t prod, size_t maxlen, size_t minlen)
{
	srand((unsigned)getpid());
	for (uint64_t s = 0;; s++) {
		size_t n = msg_len(prod, s, maxlen, minlen);
		int rc;
		if (rand() % 2) {
			void *p;
			if ((rc = shmq_reserve(q, n, -1, &p)) < 0)
				return die("reserve", rc);
			fill(p, prod, s, n / 2);
			if (rand() % 16 == 0) { /* linger between reserve and commit */
				printf("reserved %llu\n", (unsigned long long)s);
				fflush(stdout);
				pause_us(100000);
			}
			fill(p, prod, s, n);
			if ((rc = shmq_commit(q)) < 0)
				return die("commit", rc);
		} else {
			fill(buf, prod, s, n);
			if ((rc = shmq_send(q, buf, n, -1)) < 0)
				return die("send", rc);
		}
		if (s == 100) {
			printf("running\n");
			fflush(stdout);
		}
		if (rand() % 64 == 0)
			pause_us(rand() % 200);
	}
}

static int chaos_recv(shmq *q, uint32_t prod, size_t maxlen, size_t minlen)
{
	printf("ready\n");
	fflush(stdout);
	for (uint64_t s = 0;; s++) {
		size_t n;
		int rc = shmq_receive(q, buf, sizeof buf, &n, 30LL * 1000000000);
		if (rc == SHMQ_EPEERDEAD) {
			printf("dead after %llu\n", (unsigned long long)s);
			return 0;
		}
		if (rc < 0)
			return die("receive", rc);
		if (check(buf, n, prod, s, maxlen, minlen))
			return 1;
	}
}

/* hostile consumes for millis while another process rewrites the queue:
 * every call must return, with a message or a documented error. */
static int hostile(const char *name, long millis)
{
	static const int allowed[] = {SHMQ_EEMPTY, SHMQ_EOF, SHMQ_ETIMEDOUT, SHMQ_ENOTQUEUE, SHMQ_EVERSION, SHMQ_ECORRUPT,
	                              SHMQ_EPEERDEAD, SHMQ_EBUSY, SHMQ_ETOOLARGE, SHMQ_EINVAL, SHMQ_EABORTED};
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	shmq *q = NULL;
	long ops = 0, ok = 0, errs = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= millis)
			break;
		int rc = 0;
		if (!q)
			rc = shmq_open(name, NULL, &q);
		if (rc == 0) {
			size_t n;
			const void *p;
			if (ops % 5 == 1) {
				struct iovec iov[32];
				rc = shmq_peek_batch(q, 20 * 1000000, iov, 32, ops % 2 ? 0 : 4096, &n);
				if (rc == 0) {
					volatile uint8_t sum = 0;
					for (size_t j = 0; j < n; j++)
						for (size_t i = 0; i < iov[j].iov_len; i++)
							sum ^= ((const uint8_t *)iov[j].iov_base)[i];
					rc = shmq_release(q);
				}
			} else if (ops % 3 == 0) {
				rc = shmq_peek(q, 20 * 1000000, &p, &n);
				if (rc == 0) {
					volatile uint8_t sum = 0;
					for (size_t i = 0; i < n; i++)
						sum ^= ((const uint8_t *)p)[i];
					rc = shmq_release(q);
				}
			} else {
				rc = shmq_receive(q, buf, ops % 2 ? sizeof buf : 16, &n, 20 * 1000000);
			}
		}
		ops++;
		if (rc == 0) {
			ok++;
		} else {
			int known = 0;
			for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
				known |= rc == allowed[i];
			if (!known)
				return die("unexpected", rc);
			errs++;
		}
		if (q && (rc != 0 || ops % 64 == 0)) {
			shmq_close(q);
			q = NULL;
		}
	}
	shmq_close(q);
	printf("done ops=%ld ok=%ld errs=%ld\n", ops, ok, errs);
	return 0;
}

static int bench_send(shmq *q, size_t size, uint64_t count)
{
	memset(buf, 'x', size);
	for (uint64_t i = 0; i < count; i++) {
		int rc = shmq_send(q, buf, size, -1);
		if (rc < 0)
			return die("send", rc);
	}
	return 0;
}

static int bench_recv(shmq *q)
{
	size_t n;
	int rc = shmq_receive(q, buf, sizeof buf, &n, 0); /* takes the consumer role */
	if (rc != SHMQ_EEMPTY)
		return die("first receive (want empty)", rc);
	printf("ready\n");
	fflush(stdout);
	uint64_t got = 0;
	while ((rc = shmq_receive(q, buf, sizeof buf, &n, -1)) == 0)
		got++;
	if (rc != SHMQ_EOF)
		return die("receive", rc);
	printf("got %llu\n", (unsigned long long)got);
	return 0;
}

/* takeover tries both roles of a queue whose header may be damaged: a
 * receive and a send that do not wait, each printed with its error. */
static int takeover(shmq *q)
{
	char buf[64];
	size_t n;
	int r1 = shmq_receive(q, buf, sizeof buf, &n, 0);
	printf("receive: %d %s\n", r1, shmq_last_error());
	int r2 = shmq_send(q, "x", 1, 0);
	printf("send: %d %s\n", r2, shmq_last_error());
	return r1 == SHMQ_ECORRUPT && r2 == SHMQ_ECORRUPT ? 3 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return 2;
	const char *cmd = argv[1], *name = argv[2];
	if (!strcmp(cmd, "hostile") && argc == 4)
		return hostile(name, atol(argv[3]));
	shmq *q;
	int rc = shmq_open(name, NULL, &q);
	if (rc < 0)
		return die("open", rc);
	int status = 2;
	if (!strcmp(cmd, "send") && argc == 7)
		status = do_send(q, (uint32_t)atol(argv[3]), strtoull(argv[4], NULL, 10), (size_t)atol(argv[5]), (size_t)atol(argv[6]));
	else if (!strcmp(cmd, "recv") && argc == 7)
		status = do_recv(q, (uint32_t)atol(argv[3]), strtoull(argv[4], NULL, 10), (size_t)atol(argv[5]), (size_t)atol(argv[6]));
	else if (!strcmp(cmd, "bench-send") && argc == 5)
		status = bench_send(q, (size_t)atol(argv[3]), strtoull(argv[4], NULL, 10));
	else if (!strcmp(cmd, "bench-recv") && argc == 3)
		status = bench_recv(q);
	else if (!strcmp(cmd, "takeover") && argc == 3)
		status = takeover(q);
	else if (!strcmp(cmd, "chaos-send") && argc == 6)
		status = chaos_send(q, (uint32_t)atol(argv[3]), (size_t)atol(argv[4]), (size_t)atol(argv[5]));
	else if (!strcmp(cmd, "chaos-recv") && argc == 6)
		status = chaos_recv(q, (uint32_t)atol(argv[3]), (size_t)atol(argv[4]), (size_t)atol(argv[5]));
	if (status == 0 && (rc = shmq_close(q)) < 0)
		return die("close", rc);
	return status;
}

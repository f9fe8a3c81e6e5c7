/*
 * shmq-recv NAME [-n N] [--follow]: receive messages and print each on a
 * line of its own. Without -n or --follow it prints the messages waiting
 * now and exits; with -n N it waits for N messages (and fails if the queue
 * is closed for sending before); with --follow it prints messages as they
 * come until the queue is closed for sending, or Ctrl-C. The same line
 * semantics as `shm queue recv`.
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: shmq-recv NAME [-n N] [--follow]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	long count = 0;
	int follow = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--follow")) {
			follow = 1;
		} else if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--count")) {
			char *end;
			if (i + 1 >= argc)
				return usage();
			count = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || count < 0) {
				fprintf(stderr, "shmq-recv: -n %s is not a count of messages\n", argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-') {
			return usage();
		} else if (!name) {
			name = argv[i];
		} else {
			return usage();
		}
	}
	if (!name)
		return usage();
	/* Ctrl-C interrupts a wait (SHMQ_EINTR): what was received is printed. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);

	shmq *q;
	int rc = shmq_open(name, NULL, &q);
	if (rc < 0) {
		fprintf(stderr, "shmq-recv: %s\n", shmq_last_error());
		return 1;
	}
	static char out[1 << 16];
	setvbuf(stdout, out, _IOFBF, sizeof out);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	long got = 0;
	int wait = follow || count > 0;
	rc = 0;
	while (buf && (count == 0 || got < count)) {
		rc = shmq_receive(q, buf, cap, &len, 0);
		if (rc == SHMQ_EEMPTY && wait) {
			fflush(stdout); /* about to wait: what was printed goes out first */
			rc = shmq_receive(q, buf, cap, &len, -1);
		}
		if (rc == SHMQ_ETOOLARGE && len > cap) {
			char *nb = realloc(buf, len);
			if (!nb)
				break;
			buf = nb;
			cap = len;
			continue;
		}
		if (rc == SHMQ_EINTR && interrupted) {
			rc = 0;
			break;
		}
		if (rc == SHMQ_EEMPTY || rc == SHMQ_EOF) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		fwrite(buf, 1, len, stdout);
		putchar('\n');
		got++;
	}
	int status = 0;
	if (!buf) {
		fprintf(stderr, "shmq-recv: out of memory\n");
		status = 1;
	} else if (rc < 0) {
		fprintf(stderr, "shmq-recv: %s\n", shmq_last_error());
		status = 1;
	} else if (count > 0 && got < count && !interrupted) {
		fprintf(stderr, "shmq-recv: queue receive %s: got %ld of %ld messages: the queue was closed for sending\n", shmq_name(q), got, count);
		status = 1;
	}
	if (fflush(stdout) != 0)
		status = 1;
	shmq_close(q);
	free(buf);
	return status;
}

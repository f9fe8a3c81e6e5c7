/*
 * shmq-recv NAME [-n N] [--follow]: receive messages and print each on a
 * line of its own. Without -n or --follow it prints the messages waiting
 * now and exits; with -n N it waits for N messages (and fails if the queue
 * is closed for sending before); with --follow it prints messages as they
 * come until the queue is closed for sending. The same line semantics as
 * `shm queue recv`. A message leaves the queue only once it was written
 * out: each is peeked, written and then released.
 *
 * Exit status: 0 ok (the stream ended, or nothing more came), 1 an error,
 * 2 usage error, 4 the sender died before closing the queue, 5 the sender
 * aborted the stream (after every message it sent was printed), 130
 * stopped by SIGINT, SIGTERM or SIGHUP.
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stopped;

static void on_signal(int sig) { stopped = sig; }

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
	/* A signal interrupts a wait (SHMQ_EINTR): what was received is printed. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	shmq *q;
	int rc = shmq_open(name, NULL, &q);
	if (rc < 0) {
		fprintf(stderr, "shmq-recv: %s\n", shmq_last_error());
		return 1;
	}
	static char out[1 << 16];
	setvbuf(stdout, out, _IOFBF, sizeof out);
	long got = 0;
	int wait = follow || count > 0;
	rc = 0;
	while ((count == 0 || got < count) && !stopped) {
		const void *msg;
		size_t len;
		rc = shmq_peek(q, 0, &msg, &len);
		if (rc == SHMQ_EEMPTY && wait) {
			fflush(stdout); /* about to wait: what was printed goes out first */
			rc = shmq_peek(q, -1, &msg, &len);
		}
		if (rc < 0)
			break;
		/* A message leaves the queue only once it was written out: the
		 * flush comes before the release, so a reader killed in between
		 * leaves it to the next one (printed twice at worst, never lost). */
		if (fwrite(msg, 1, len, stdout) != len || putchar('\n') == EOF || fflush(stdout) != 0) {
			rc = -EIO;
			break;
		}
		shmq_release(q);
		got++;
	}
	int status = 0;
	const char *s = got == 1 ? "" : "s";
	if (fflush(stdout) != 0 && !stopped) {
		fprintf(stderr, "shmq-recv: queue receive %s: writing standard output failed\n", name);
		status = 1;
	} else if (stopped) {
		fprintf(stderr, "shmq-recv: queue receive %s: stopped by signal %d after %ld message%s\n", name, (int)stopped, got, s);
		status = 130;
	} else if (rc == SHMQ_EABORTED) {
		fprintf(stderr, "shmq-recv: queue receive %s: the sender aborted the stream after %ld message%s\n", name, got, s);
		status = 5;
	} else if (rc == SHMQ_EPEERDEAD) {
		fprintf(stderr, "shmq-recv: %s; %ld message%s printed before\n", shmq_last_error(), got, s);
		status = 4;
	} else if (rc == SHMQ_EOF && count > 0 && got < count) {
		fprintf(stderr, "shmq-recv: queue receive %s: got %ld of %ld messages: the queue was closed for sending\n", name, got, count);
		status = 1;
	} else if (rc < 0 && rc != SHMQ_EEMPTY && rc != SHMQ_EOF) {
		fprintf(stderr, "shmq-recv: %s\n", rc == -EIO ? "writing standard output failed" : shmq_last_error());
		status = 1;
	}
	shmq_close(q);
	return status;
}

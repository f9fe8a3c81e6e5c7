/*
 * shmt-sub NAME [-n N] [--follow]: join a topic's subscribers and print
 * each message on a line of its own. Without -n or --follow it prints the
 * messages there are now (the topic's history) and exits; with -n N it
 * waits for N messages (and fails if the topic is closed for publishing
 * before); with --follow it prints messages as they come until the topic
 * is closed for publishing. The same line semantics as `shm topic sub`. On
 * an overwrite topic, falling behind prints "shmt-sub: topic sub NAME:
 * missed N messages" on standard error and goes on.
 *
 * Exit status: 0 ok (the stream ended, or nothing more came), 1 an error,
 * 2 usage error, 4 the publisher died before closing the topic, 5 the
 * publisher aborted the stream (every message it published was printed),
 * 130 stopped by SIGINT, SIGTERM or SIGHUP.
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
	fprintf(stderr, "usage: shmt-sub NAME [-n N] [--follow]\n");
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
				fprintf(stderr, "shmt-sub: -n %s is not a count of messages\n", argv[i]);
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

	shmt *t;
	int rc = shmt_open(name, NULL, &t);
	if (rc == 0 && (rc = shmt_subscribe(t)) < 0)
		shmt_close(t);
	if (rc < 0) {
		fprintf(stderr, "shmt-sub: %s\n", shmq_last_error());
		return 1;
	}
	size_t cap = shmt_max_message(t) ? shmt_max_message(t) : 1;
	char *buf = malloc(cap);
	if (!buf) {
		fprintf(stderr, "shmt-sub: topic sub %s: out of memory for a %zu-byte message buffer\n", name, cap);
		shmt_close(t);
		return 1;
	}
	static char out[1 << 16];
	setvbuf(stdout, out, _IOFBF, sizeof out);
	long got = 0;
	int wait = follow || count > 0;
	rc = 0;
	while ((count == 0 || got < count) && !stopped) {
		size_t len;
		rc = shmt_receive(t, buf, cap, &len, 0);
		if (rc == SHMQ_EEMPTY && wait) {
			fflush(stdout); /* about to wait: what was printed goes out first */
			rc = shmt_receive(t, buf, cap, &len, -1);
		}
		if (rc == SHMT_ELAGGED) {
			unsigned long long m = (unsigned long long)shmt_missed(t);
			fprintf(stderr, "shmt-sub: topic sub %s: missed %llu message%s\n", shmt_name(t), m, m == 1 ? "" : "s");
			continue;
		}
		if (rc < 0)
			break;
		if (fwrite(buf, 1, len, stdout) != len || putchar('\n') == EOF) {
			rc = -EIO;
			break;
		}
		got++;
	}
	int status = 0;
	const char *s = got == 1 ? "" : "s";
	if (fflush(stdout) != 0 && !stopped) {
		fprintf(stderr, "shmt-sub: topic sub %s: writing standard output failed\n", name);
		status = 1;
	} else if (stopped) {
		fprintf(stderr, "shmt-sub: topic sub %s: stopped by signal %d after %ld message%s\n", name, (int)stopped, got, s);
		status = 130;
	} else if (rc == SHMQ_EABORTED) {
		fprintf(stderr, "shmt-sub: topic receive %s: the publisher aborted the stream after %ld message%s\n", name, got, s);
		status = 5;
	} else if (rc == SHMQ_EPEERDEAD) {
		fprintf(stderr, "shmt-sub: %s; %ld message%s printed before\n", shmq_last_error(), got, s);
		status = 4;
	} else if (rc == SHMQ_EOF && count > 0 && got < count) {
		fprintf(stderr, "shmt-sub: topic sub %s: got %ld of %ld messages: the topic was closed for publishing\n", name, got, count);
		status = 1;
	} else if (rc < 0 && rc != SHMQ_EEMPTY && rc != SHMQ_EOF) {
		fprintf(stderr, "shmt-sub: %s\n", rc == -EIO ? "writing standard output failed" : shmq_last_error());
		status = 1;
	}
	free(buf);
	shmt_close(t);
	return status;
}

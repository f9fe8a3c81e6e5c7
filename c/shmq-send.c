/*
 * shmq-send NAME [--keep-open] [MSG...]: send each argument as a message,
 * or without arguments each line of standard input (without its newline; a
 * carriage return before it is part of the message; a last line without a
 * newline counts when it is not empty), then close the queue for sending so
 * that the receiver gets end-of-file after the last message; --keep-open
 * leaves it open. The same line semantics as `shm queue send`.
 *
 * When it fails part-way (a line longer than the queue's maximum message,
 * unreadable input, a signal), the messages sent stay sent and the stream
 * is marked aborted, so that the receiver can tell.
 *
 * Exit status: 0 ok, 1 an error (the stream is aborted), 2 usage error, 4
 * the receiver died, 130 stopped by SIGINT, SIGTERM or SIGHUP.
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
	fprintf(stderr, "usage: shmq-send NAME [--keep-open] [MSG...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	int keep_open = 0, nargs = 0;
	char **msgs = calloc((size_t)argc, sizeof *msgs);
	if (!msgs)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keep-open"))
			keep_open = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage() - 2;
		else if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2])
			return usage();
		else if (!name)
			name = argv[i];
		else
			msgs[nargs++] = argv[i];
	}
	if (!name)
		return usage();
	/* A signal interrupts a read or a wait for room (no SA_RESTART). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	shmq *q;
	int rc = shmq_open(name, NULL, &q);
	if (rc < 0) {
		fprintf(stderr, "shmq-send: %s\n", shmq_last_error());
		return 1;
	}
	char what[256] = "";
	long sent = 0;
	if (nargs) {
		for (int i = 0; i < nargs && rc == 0 && !stopped; i++)
			if ((rc = shmq_send(q, msgs[i], strlen(msgs[i]), -1)) == 0)
				sent++;
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (rc == 0 && !stopped && (n = getline(&line, &cap, stdin)) >= 0) {
			size_t len = (size_t)n;
			if (len > 0 && line[len - 1] == '\n')
				len--;
			else if (len == 0)
				break;
			if (len > shmq_max_message(q)) {
				snprintf(what, sizeof what, "a line of standard input is longer than the queue's maximum message of %u bytes",
				         shmq_max_message(q));
				rc = SHMQ_ETOOLARGE;
				break;
			}
			if ((rc = shmq_send(q, line, len, -1)) == 0)
				sent++;
		}
		if (rc == 0 && !stopped && ferror(stdin)) {
			snprintf(what, sizeof what, "reading standard input failed");
			rc = -EIO;
		}
		free(line);
	}
	if (stopped && (rc == 0 || rc == SHMQ_EINTR))
		rc = SHMQ_EINTR;
	int status = 0;
	if (rc == 0) {
		/* What was sent stays sent; the stream is complete. */
		if (keep_open)
			shmq_detach(q);
		else
			shmq_close(q);
	} else {
		/* The stream is cut short: the receiver must be able to tell, unless
		 * another live process is the producer (that stream was never this
		 * one's to end). */
		if (rc == SHMQ_EBUSY)
			shmq_close(q);
		else
			shmq_abort(q);
		if (rc == SHMQ_EINTR) {
			fprintf(stderr, "shmq-send: queue send %s: stopped by signal %d after %ld message%s; the stream is marked aborted\n", name,
			        (int)stopped, sent, sent == 1 ? "" : "s");
			status = 130;
		} else {
			if (what[0])
				fprintf(stderr, "shmq-send: queue send %s: %s: %s\n", name, what, shmq_strerror(rc));
			else
				fprintf(stderr, "shmq-send: %s\n", shmq_last_error());
			status = rc == SHMQ_EPEERDEAD ? 4 : 1;
		}
	}
	free(msgs);
	return status;
}

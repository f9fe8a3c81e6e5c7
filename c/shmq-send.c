/*
 * shmq-send NAME [MSG...]: send each argument as a message, or without
 * arguments each line of standard input (without its newline, and without
 * a carriage return before it; a last line without a newline counts when it
 * is not empty), then close the queue for sending so that the receiver gets
 * end-of-file after the last message. --keep-open leaves it open. The same
 * line semantics as `shm queue send`.
 */
#define _GNU_SOURCE
#include "shmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	shmq *q;
	int rc = shmq_open(name, NULL, &q);
	if (rc < 0) {
		fprintf(stderr, "shmq-send: %s\n", shmq_last_error());
		return 1;
	}
	const char *what = NULL;
	if (nargs) {
		for (int i = 0; i < nargs && rc == 0; i++)
			rc = shmq_send(q, msgs[i], strlen(msgs[i]), -1);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
			size_t len = (size_t)n;
			int newline = len > 0 && line[len - 1] == '\n';
			if (newline)
				len--;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			if (!newline && len == 0)
				break;
			if (len > shmq_max_message(q)) {
				what = "a line of standard input is longer than the queue's maximum message";
				rc = SHMQ_ETOOLARGE;
				break;
			}
			rc = shmq_send(q, line, len, -1);
		}
		if (rc == 0 && ferror(stdin)) {
			what = "reading standard input failed";
			rc = -EIO;
		}
		free(line);
	}
	if (rc < 0) {
		if (what)
			fprintf(stderr, "shmq-send: queue send %s: %s of %u bytes: %s\n", name, what, shmq_max_message(q), shmq_strerror(rc));
		else
			fprintf(stderr, "shmq-send: %s\n", shmq_last_error());
	}
	/* What was sent stays sent, also after an error. */
	if (keep_open)
		shmq_detach(q);
	else
		shmq_close(q);
	free(msgs);
	return rc < 0 ? 1 : 0;
}

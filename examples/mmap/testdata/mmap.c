/*
 * Our own C program with the behaviour of the lesson's mmap.c, written for the
 * interop test of examples/mmap: the same messages, the same exit statuses,
 * the same object. Like the Go port, it takes the object's name from
 * SHM_MMAP_NAME (default /comento_mem).
 *
 * One deliberate difference from the lesson's program: stdout is flushed
 * before "-l" executes ls. Without it, "List the shared memory:" sits in
 * stdio's buffer when stdout is a pipe, and execve throws it away.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { OBJ_SIZE = 4096 };

enum status {
	OK = 0,
	ERR_OPEN = 1,
	ERR_SIZE = 2,
	ERR_MAP = 3,
	ERR_USAGE = 4,
	ERR_LIST = 5,
};

static const char *object_name(void)
{
	const char *n = getenv("SHM_MMAP_NAME");
	return (n != NULL && n[0] != '\0') ? n : "/comento_mem";
}

static int delete_object(const char *name)
{
	fputs("Delete the shared memory\n", stdout);
	(void)shm_unlink(name);
	return OK;
}

static int list_objects(void)
{
	char *const args[] = {"/bin/ls", "/dev/shm", NULL};
	char *const no_env[] = {NULL};

	fputs("List the shared memory:\n", stdout);
	fflush(stdout);
	execve(args[0], args, no_env);
	fputs("Failed to run ls command", stderr);
	return ERR_LIST;
}

static int edit_object(const char *name)
{
	int fresh = 0;
	char *mem;
	int fd = shm_open(name, O_RDWR, 0600);

	if (fd < 0 && errno != ENOENT) {
		fputs("Failed to shm_open\n", stderr);
		return ERR_OPEN;
	}
	if (fd < 0) {
		fputs("Create new shared memory\n", stdout);
		fd = shm_open(name, O_RDWR | O_CREAT, 0600);
		fputs("Set the size of shared memory\n", stdout);
		if (ftruncate(fd, OBJ_SIZE) != 0) {
			fputs("Failed to ftruncate\n\n", stderr);
			return ERR_SIZE;
		}
		fresh = 1;
	}

	fputs("Mapping the shared memeory\n", stdout);
	mem = mmap(NULL, OBJ_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		fputs("Failed to mmap\n", stderr);
		return ERR_MAP;
	}
	if (!fresh)
		printf("before: %.4095s\n", mem);
	if (scanf("%4095s", mem) == EOF) {
		/* no word on stdin: the memory keeps what it had */
	}
	munmap(mem, OBJ_SIZE);
	close(fd);
	return OK;
}

int main(int argc, char *argv[])
{
	const char *name = object_name();

	if (argc == 2 && strcmp(argv[1], "-d") == 0)
		return delete_object(name);
	if (argc == 2 && strcmp(argv[1], "-l") == 0)
		return list_objects();
	if (argc != 1) {
		fprintf(stderr, "Usage : %s <-d> <-l>\n", argv[0]);
		return ERR_USAGE;
	}
	return edit_object(name);
}

// peer.c: a C program using glibc's semaphores, the peer of package sem's
// tests and benchmarks. Each mode prints one line on success and exits 0;
// a timeout exits 3, any other failure 1.
//
//   layout                     sizeof/alignof(sem_t) and the bytes of
//                              semaphores in known states
//   create NAME VALUE          sem_open(O_CREAT|O_EXCL, 0600, VALUE)
//   value NAME                 print sem_getvalue
//   post NAME N                sem_post N times
//   timedwait NAME MS          sem_timedwait once, MS milliseconds at most
//   pingpong PING PONG N MS    N times: timedwait PING, post PONG
//   hammer SEM SHM N           N times: wait SEM, ++counter in SHM, post SEM
//   segpost SHM OFF N          sem_post N times on the semaphore at OFF in SHM
//   segwait SHM OFF MS         sem_timedwait on the semaphore at OFF in SHM
//   seginit SHM OFF VALUE      sem_init(pshared 1) at OFF in SHM
//   bench N                    ns per sem_post+sem_trywait, uncontended
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "peer: %s: %s\n", what, strerror(errno));
	exit(errno == ETIMEDOUT ? 3 : 1);
}

static sem_t *open_sem(const char *name) {
	sem_t *s = sem_open(name, 0);
	if (s == SEM_FAILED) die("sem_open");
	return s;
}

static void *map_shm(const char *name, size_t *len) {
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0) die("shm_open");
	struct stat st;
	if (fstat(fd, &st) < 0) die("fstat");
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) die("mmap");
	close(fd);
	*len = st.st_size;
	return p;
}

static sem_t *sem_at(const char *shm, const char *off) {
	size_t len;
	char *p = map_shm(shm, &len);
	size_t o = strtoul(off, NULL, 10);
	if (o + sizeof(sem_t) > len) { errno = EINVAL; die("offset"); }
	return (sem_t *)(p + o);
}

static void timed(sem_t *s, long ms) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
	while (sem_timedwait(s, &ts) < 0)
		if (errno != EINTR) die("sem_timedwait");
}

static void hex(const char *label, const void *p) {
	const unsigned char *b = p;
	printf("%s ", label);
	for (size_t i = 0; i < sizeof(sem_t); i++) printf("%02x", b[i]);
	printf("\n");
}

static sem_t *waited;
static void *waiter(void *arg) { (void)arg; sem_wait(waited); return NULL; }

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 2) { fprintf(stderr, "usage: peer MODE ...\n"); return 1; }
	const char *m = argv[1];
	if (!strcmp(m, "layout")) {
		printf("sizeof %zu\nalignof %zu\n", sizeof(sem_t), _Alignof(sem_t));
		static sem_t s;
		memset(&s, 0xee, sizeof s);
		sem_init(&s, 1, 5); hex("shared5", &s);
		sem_init(&s, 0, 7); hex("private7", &s);
		sem_init(&s, 1, 5); sem_post(&s); hex("posted6", &s);
		sem_init(&s, 1, 0); waited = &s;
		pthread_t t;
		pthread_create(&t, NULL, waiter, NULL);
		// Wait until the waiter registered (nwaiters is the high half).
		while (((volatile unsigned char *)&s)[4] == 0) usleep(1000);
		usleep(20000);
		hex("waiting", &s);
		sem_post(&s); pthread_join(t, NULL); hex("woken", &s);
		return 0;
	}
	if (!strcmp(m, "create") && argc == 4) {
		sem_t *s = sem_open(argv[2], O_CREAT | O_EXCL, 0600, (unsigned)atoi(argv[3]));
		if (s == SEM_FAILED) die("sem_open");
		printf("created\n");
		return 0;
	}
	if (!strcmp(m, "value") && argc == 3) {
		int v;
		if (sem_getvalue(open_sem(argv[2]), &v) < 0) die("sem_getvalue");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(m, "post") && argc == 4) {
		sem_t *s = open_sem(argv[2]);
		for (long i = atol(argv[3]); i > 0; i--)
			if (sem_post(s) < 0) die("sem_post");
		printf("posted\n");
		return 0;
	}
	if (!strcmp(m, "timedwait") && argc == 4) {
		timed(open_sem(argv[2]), atol(argv[3]));
		printf("took\n");
		return 0;
	}
	if (!strcmp(m, "pingpong") && argc == 6) {
		sem_t *ping = open_sem(argv[2]), *pong = open_sem(argv[3]);
		long n = atol(argv[4]), ms = atol(argv[5]);
		for (long i = 0; i < n; i++) {
			timed(ping, ms);
			if (sem_post(pong) < 0) die("sem_post");
		}
		printf("done\n");
		return 0;
	}
	if (!strcmp(m, "hammer") && argc == 5) {
		sem_t *s = open_sem(argv[2]);
		size_t len;
		volatile uint64_t *counter = map_shm(argv[3], &len);
		for (long i = atol(argv[4]); i > 0; i--) {
			while (sem_wait(s) < 0)
				if (errno != EINTR) die("sem_wait");
			uint64_t c = *counter; // a plain, non-atomic increment
			*counter = c + 1;
			if (sem_post(s) < 0) die("sem_post");
		}
		printf("done\n");
		return 0;
	}
	if (!strcmp(m, "segpost") && argc == 5) {
		sem_t *s = sem_at(argv[2], argv[3]);
		for (long i = atol(argv[4]); i > 0; i--)
			if (sem_post(s) < 0) die("sem_post");
		printf("posted\n");
		return 0;
	}
	if (!strcmp(m, "segwait") && argc == 5) {
		timed(sem_at(argv[2], argv[3]), atol(argv[4]));
		printf("took\n");
		return 0;
	}
	if (!strcmp(m, "seginit") && argc == 5) {
		if (sem_init(sem_at(argv[2], argv[3]), 1, (unsigned)atoi(argv[4])) < 0) die("sem_init");
		printf("initialized\n");
		return 0;
	}
	if (!strcmp(m, "bench") && argc == 3) {
		static sem_t s;
		sem_init(&s, 1, 0);
		long n = atol(argv[2]);
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			sem_post(&s);
			if (sem_trywait(&s) < 0) die("sem_trywait");
		}
		printf("%.3f\n", (now_ns() - t0) / n);
		return 0;
	}
	fprintf(stderr, "peer: bad arguments\n");
	return 1;
}

/*
 * host — for the conversion measurement (README, "Performance"; goal 3 of
 * benches/run.sh): a "linker" holding GiB of memory that starts the archiver
 * as its last act, timing the spawn path.
 *
 *   host fork|spawn GIB ARCHIVER REPORT poll|nopoll
 *
 * Maps and touches GIB GiB (every 4 KiB page written), then takes a
 * CLOCK_MONOTONIC timestamp right before the spawn call and passes it to
 * ARCHIVER (target/bench/ar, see ar.c) in argv:
 *   spawn  posix_spawn(ARCHIVER)          (under the shim: converted to execve)
 *   fork   fork() + execv(ARCHIVER)       (under the shim: wait-time handoff)
 * With `poll` (the wait-time handoff under the shim) the archiver is told to
 * poll this process's VmRSS until the memory is gone. The host always writes the timestamp taken right before its
 * waitpid call to REPORT.wait (a shared mapping: one store, no syscall).
 * Exit status: the archiver's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: host fork|spawn GIB ARCHIVER REPORT poll|nopoll\n");
		return 2;
	}
	int fork_mode = !strcmp(argv[1], "fork");
	size_t size = (size_t)atol(argv[2]) << 30;
	const char *archiver = argv[3], *report = argv[4];

	unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("host: mmap");
		return 1;
	}
	for (size_t off = 0; off < size; off += 4096)
		mem[off] = (unsigned char)(off >> 12 | 1);

	/* REPORT.wait: a shared mapping, written right before waitpid (read by the driver). */
	char wpath[4096];
	snprintf(wpath, sizeof wpath, "%s.wait", report);
	int wfd = open(wpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (wfd < 0 || ftruncate(wfd, 21) != 0) {
		perror("host: REPORT.wait");
		return 1;
	}
	char *tw_slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
	if (tw_slot == MAP_FAILED) {
		perror("host: mmap REPORT.wait");
		return 1;
	}
	close(wfd);

	char t0s[32];
	/* "rc" first: the library converts only an archiver run that writes (DESIGN, "Conversion" 10). */
	char *aargv[] = {"ar", "rc", t0s, (char *)report, argv[5], NULL};
	pid_t pid;
	long long t0 = now_ns();
	snprintf(t0s, sizeof t0s, "%lld", t0);
	if (fork_mode) {
		pid = fork();
		if (pid < 0) {
			perror("host: fork");
			return 1;
		}
		if (pid == 0) {
			execv(archiver, aargv);
			_exit(127);
		}
	} else {
		int err = posix_spawn(&pid, archiver, NULL, NULL, aargv, environ);
		if (err) {
			fprintf(stderr, "host: posix_spawn: %s\n", strerror(err));
			return 1;
		}
	}
	/* Right before the wait call: a plain store into a shared file mapping, no syscall. */
	snprintf(tw_slot, 32, "%020lld\n", now_ns());
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("host: waitpid");
			return 1;
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

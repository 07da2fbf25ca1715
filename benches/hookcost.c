/*
 * hookcost — the hooked-call measurement (README, "Performance"; goal 2 of
 * benches/run.sh): what one hooked call costs when the library is off
 * (ARSHIM unset) or when it is not preloaded at all.
 *
 *   hookcost TEST N
 *
 * TEST: spawn   posix_spawn("/bin/true") + waitpid; the child's environment
 *               has no LD_PRELOAD, so only the caller's hooks differ
 *       system  system("true") (LD_PRELOAD is removed from environ first)
 *       write   write(fd_devnull, buf, 1)
 *       open    open("/dev/null", O_RDONLY) + close
 *       waitpid waitpid(-1, &st, WNOHANG) with no children (ECHILD)
 * Prints: "TEST N ns_per_call shim=0|1" (shim=1: libarshim.so is mapped in this process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int find_shim(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "libarshim"))
		*(int *)data = 1;
	return 0;
}

static void fail(const char *what)
{
	fprintf(stderr, "hookcost: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: hookcost spawn|system|write|open|waitpid N\n");
		return 2;
	}
	const char *test = argv[1];
	long n = atol(argv[2]);
	if (n <= 0)
		return 2;
	int shim = 0;
	dl_iterate_phdr(find_shim, &shim);
	/* Children never get the preload: only this process's hooks are measured. */
	unsetenv("LD_PRELOAD");
	double t0 = 0, t1 = 0;

	if (!strcmp(test, "spawn")) {
		char *cargv[] = {"true", NULL};
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			pid_t pid;
			int err = posix_spawn(&pid, "/bin/true", NULL, NULL, cargv, environ);
			if (err) {
				errno = err;
				fail("posix_spawn /bin/true");
			}
			int st;
			if (waitpid(pid, &st, 0) != pid || st != 0)
				fail("waitpid");
		}
		t1 = now_ns();
	} else if (!strcmp(test, "system")) {
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if (system("true") != 0)
				fail("system(\"true\")");
		t1 = now_ns();
	} else if (!strcmp(test, "write")) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd < 0)
			fail("open /dev/null");
		char buf[1] = {'x'};
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if (write(fd, buf, 1) != 1)
				fail("write");
		t1 = now_ns();
	} else if (!strcmp(test, "open")) {
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = open("/dev/null", O_RDONLY);
			if (fd < 0)
				fail("open /dev/null");
			close(fd);
		}
		t1 = now_ns();
	} else if (!strcmp(test, "waitpid")) {
		int st;
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if (waitpid(-1, &st, WNOHANG) != -1)
				fail("waitpid returned a child");
		t1 = now_ns();
		if (errno != ECHILD)
			fail("waitpid: expected ECHILD");
	} else {
		fprintf(stderr, "hookcost: unknown test %s\n", test);
		return 2;
	}
	printf("%s %ld %.1f shim=%d\n", test, n, (t1 - t0) / n, shim);
	return 0;
}

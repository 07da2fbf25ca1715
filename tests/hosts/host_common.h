/*
 * What the C test programs share: the hosts' (host.c, fork_host.c,
 * verify_host.c) pid record, the memory they hold and their exit status; the
 * stand-in archivers' (standin_ar.c, interruptible_ar.c) look at their parent.  The tests compile
 * them with `-I tests/hosts` (tests/common/tools.rs, compile_c).
 * `static inline`: a host that does not use one of them gets no warning.
 */
#ifndef ARSHIM_TEST_HOST_COMMON_H
#define ARSHIM_TEST_HOST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Appends "ROLE PID" to $HOST_PID_FILE if set, so the tests know the pid;
 * a file that cannot be opened: "NAME: cannot open ..." and exit 4. */
static inline void host_record_pid(const char *name, const char *role)
{
	const char *file = getenv("HOST_PID_FILE");
	if (file == NULL || *file == '\0')
		return;
	int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open %s: %s\n", name, file, strerror(errno));
		exit(4);
	}
	dprintf(fd, "%s %ld\n", role, (long)getpid());
	close(fd);
}

/* The memory to hold: $HOST_TOUCH_MIB MiB, else DEFAULT_MIB. */
static inline long host_touch_mib(long default_mib)
{
	const char *env = getenv("HOST_TOUCH_MIB");
	return env != NULL && *env != '\0' ? atol(env) : default_mib;
}

/* BYTES of memory, every page written (part of the MIB the host holds);
 * none: "NAME: cannot allocate MIB MiB" and exit 4. */
static inline unsigned char *host_hold(const char *name, size_t bytes, long mib)
{
	unsigned char *p = malloc(bytes);
	if (p == NULL) {
		fprintf(stderr, "%s: cannot allocate %ld MiB\n", name, mib);
		exit(4);
	}
	memset(p, 0x5a, bytes);
	return p;
}

/* The archiver's argv: TOOL rcs ARGS[0..NARGS), NULL-terminated (exit 4
 * when out of memory). */
static inline char **host_archiver_argv(const char *tool, int nargs, char **args)
{
	char **argv = calloc((size_t)nargs + 3, sizeof(char *));
	if (argv == NULL)
		exit(4);
	argv[0] = (char *)tool;
	argv[1] = "rcs";
	for (int i = 0; i < nargs; i++)
		argv[2 + i] = args[i];
	return argv;
}

/* The atexit handler of the hosts whose cleanups the tests look for. */
static inline void host_at_exit_handler(void)
{
	printf("host: atexit ran\n");
}

/* The host's exit status for the archiver's wait status: its code, 128+N
 * for a signal N, 5 otherwise. */
static inline int host_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 5;
}

/* Whether process PPID is blocked in a wait call (its wchan is do_wait):
 * the stand-in archivers act only once their parent waits for them. */
static inline int parent_waiting(pid_t ppid)
{
	char path[64], buf[64];
	snprintf(path, sizeof path, "/proc/%ld/wchan", (long)ppid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, "do_wait") == 0;
}

#endif

/*
 * A stand-in "legacy linker" for the arshim integration tests.
 *
 *   host CALL IO TOOL ARCHIVE OBJ...     CALL: spawn | spawnp | system
 *                                        IO:   plain | capture | stdin
 *   host parent INNER ARG...             posix_spawn INNER ARG..., wait, report
 *
 * What a big linker does at its end: it holds a lot of memory (HOST_TOUCH_MIB,
 * default 96 MiB, every page written), has output pending in its stdio buffer
 * ("host: buffered line", never flushed explicitly), has an atexit handler
 * ("host: atexit ran"), then runs `TOOL rcs ARCHIVE OBJ...` through CALL,
 * waits for it and exits with its status.  Nothing is printed after the wait:
 * the archiver spawn is final.
 *
 *   plain    the archiver inherits stdin/stdout/stderr.
 *   capture  the archiver's stdout and stderr go to a pipe the host reads to
 *            EOF; every line is echoed as "host: child said: LINE".
 *   stdin    the archiver's stdin is a pipe; the host writes one line
 *            ("host input") after the spawn, then closes its end.
 *
 * Half of the memory is one big block (its own mapping), half is small
 * blocks in the brk heap, next to malloc's own data and the stdio buffers,
 * as in a real linker. HOST_THREADS=N starts N idle threads first.
 *
 * The host appends "host PID" (or "parent PID") to $HOST_PID_FILE if set, so
 * the tests know its pid.  Failing spawn calls: "host: spawn failed: ERR" on
 * stderr, exit status 3.  An archiver killed by signal N: exit status 128+N.
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Written through a volatile pointer so the compiler keeps every page. */
static unsigned char *volatile ballast;
static void **volatile small_chain;

static void usage(void)
{
	fprintf(stderr, "usage: host spawn|spawnp|system plain|capture|stdin TOOL ARCHIVE OBJ...\n"
			"       host parent INNER ARG...\n");
	exit(2);
}

static void touch_memory(void)
{
	long mib = host_touch_mib(96);
	if (mib <= 0)
		return;
	size_t size = (size_t)mib << 20, big = size / 2, small = 16 << 10;
	ballast = host_hold("host", big, mib);
	/* The small blocks: a chain, each pointing to the one before. */
	void **chain = NULL;
	for (size_t done = big; done + small <= size; done += small) {
		void **q = malloc(small);
		if (q == NULL)
			exit(4);
		memset(q, 0x5b, small);
		q[0] = chain;
		chain = q;
	}
	small_chain = chain;
}

static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void start_threads(void)
{
	const char *env = getenv("HOST_THREADS");
	long n = env != NULL ? atol(env) : 0;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, idle_thread, NULL) != 0)
			exit(4);
	}
}

static int wait_for(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "host: waitpid failed: %s\n", strerror(errno));
			return 6;
		}
	}
	return host_exit_code(status);
}

static void spawn_failed(int err)
{
	fprintf(stderr, "host: spawn failed: %s\n", strerror(err));
	exit(3);
}

static int run_parent(int argc, char **argv)
{
	/* argv: host parent INNER ARG... */
	if (argc < 3)
		usage();
	host_record_pid("host", "parent");
	printf("parent: starting inner host\n");
	fflush(stdout);
	pid_t pid;
	int r = posix_spawn(&pid, argv[2], NULL, NULL, &argv[2], environ);
	if (r != 0)
		spawn_failed(r);
	int code = wait_for(pid);
	printf("parent: inner host exited with %d\n", code);
	printf("parent: still running after the inner host\n");
	return code;
}

static int run_system(const char *tool, int nargs, char **args)
{
	size_t len = strlen(tool) + 8;
	for (int i = 0; i < nargs; i++)
		len += strlen(args[i]) + 1;
	char *cmd = malloc(len);
	if (cmd == NULL)
		exit(4);
	strcpy(cmd, tool);
	strcat(cmd, " rcs");
	for (int i = 0; i < nargs; i++) {
		strcat(cmd, " ");
		strcat(cmd, args[i]);
	}
	int status = system(cmd);
	if (status == -1)
		spawn_failed(errno);
	return host_exit_code(status);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "parent") == 0)
		return run_parent(argc, argv);
	if (argc < 6)
		usage();
	const char *call = argv[1], *io = argv[2], *tool = argv[3];
	int is_spawn = strcmp(call, "spawn") == 0, is_spawnp = strcmp(call, "spawnp") == 0;
	int is_system = strcmp(call, "system") == 0;
	int capture = strcmp(io, "capture") == 0, feed_stdin = strcmp(io, "stdin") == 0;
	if (!(is_spawn || is_spawnp || is_system) || !(capture || feed_stdin || strcmp(io, "plain") == 0))
		usage();
	if (is_system && (capture || feed_stdin))
		usage();

	touch_memory();
	start_threads();
	host_record_pid("host", "host");
	if (atexit(host_at_exit_handler) != 0)
		exit(4);
	printf("host: buffered line\n"); /* stdout is a file or pipe: stays buffered */

	if (is_system)
		return run_system(tool, argc - 4, &argv[4]);

	/* child argv: TOOL rcs ARCHIVE OBJ... */
	char **child_argv = host_archiver_argv(tool, argc - 4, &argv[4]);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	int pipefd[2] = {-1, -1};
	if (capture || feed_stdin) {
		/* a legacy program: plain pipe(), both ends closed in the child */
		if (pipe(pipefd) != 0) {
			fprintf(stderr, "host: pipe failed: %s\n", strerror(errno));
			exit(4);
		}
		if (capture) {
			posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
			posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
		} else {
			posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
		}
		posix_spawn_file_actions_addclose(&fa, pipefd[0]);
		posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	}

	pid_t pid;
	int r = is_spawn ? posix_spawn(&pid, tool, &fa, NULL, child_argv, environ)
			 : posix_spawnp(&pid, tool, &fa, NULL, child_argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		spawn_failed(r);

	if (capture) {
		close(pipefd[1]);
		FILE *in = fdopen(pipefd[0], "r");
		if (in == NULL)
			exit(4);
		char line[4096];
		while (fgets(line, sizeof line, in) != NULL)
			printf("host: child said: %s", line);
		fclose(in);
	} else if (feed_stdin) {
		close(pipefd[0]);
		static const char input[] = "host input\n";
		if (write(pipefd[1], input, sizeof input - 1) < 0)
			fprintf(stderr, "host: write to the archiver's stdin failed: %s\n", strerror(errno));
		close(pipefd[1]);
	}
	return wait_for(pid);
}

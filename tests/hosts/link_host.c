/*
 * A compiler-like host for tests/link_spawns.rs: it runs the C compiler
 * driver three times, as ghc or a build tool does, and only the last run
 * links:
 *
 *   link_host spawn|fork|rsp|capture DRIVER
 *
 *   DRIVER -c a.c -o a.o
 *   DRIVER -c b.c -o b.o
 *   DRIVER a.o b.o -o prog          (rsp: DRIVER @link.rsp, which it writes)
 *
 * `spawn`, `rsp` and `capture` start each run with posix_spawnp, `fork` with
 * fork + execvp; it waits for each. `capture` points the link's stdout and
 * stderr at a pipe, reads it to its end, waits, and then prints what the
 * linker said, framed ("host: the linker said: …"), as ghc and rustc read
 * their linker's messages. It prints "host: compiled a.o" and "host:
 * compiled b.o" after the first two runs.
 *
 * A run that cannot be started: "host: spawn failed: ERROR", exit 3. A
 * compile that fails: exit 2. Otherwise its exit status is the link's
 * (128+N for a signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 4;
}

static pid_t start(int forked, char **argv, posix_spawn_file_actions_t *fa)
{
	pid_t pid;
	if (forked) {
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		if (pid > 0)
			return pid;
		fprintf(stderr, "host: spawn failed: %s\n", strerror(errno));
		exit(3);
	}
	int rc = posix_spawnp(&pid, argv[0], fa, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(rc));
		exit(3);
	}
	return pid;
}

static int finish(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid) {
		fprintf(stderr, "host: waitpid: %s\n", strerror(errno));
		exit(3);
	}
	return status_of(st);
}

static void compile(int forked, char *driver, char *src, char *obj)
{
	char *argv[] = {driver, "-c", src, "-o", obj, NULL};
	if (finish(start(forked, argv, NULL)) != 0)
		exit(2);
	printf("host: compiled %s\n", obj);
	fflush(stdout);
}

/* The link with its output captured: read to the end, then printed. */
static int captured_link(char **argv)
{
	int fds[2];
	posix_spawn_file_actions_t fa;
	if (pipe(fds) != 0 || posix_spawn_file_actions_init(&fa) != 0)
		exit(3);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	pid_t pid = start(0, argv, &fa);
	close(fds[1]);
	char said[65536];
	size_t len = 0;
	ssize_t n;
	while ((n = read(fds[0], said + len, sizeof said - 1 - len)) > 0)
		len += (size_t)n;
	said[len] = '\0';
	int code = finish(pid);
	printf("host: the linker said: [%s]\n", said);
	printf("host: the link exited with %d\n", code);
	return code;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: link_host spawn|fork|rsp|capture DRIVER\n");
		return 2;
	}
	const char *mode = argv[1];
	char *driver = argv[2];
	int forked = strcmp(mode, "fork") == 0;
	compile(forked, driver, "a.c", "a.o");
	compile(forked, driver, "b.c", "b.o");
	char *link[] = {driver, "a.o", "b.o", "-o", "prog", NULL};
	char *rsp[] = {driver, "@link.rsp", NULL};
	if (strcmp(mode, "capture") == 0)
		return captured_link(link);
	if (strcmp(mode, "rsp") == 0) {
		FILE *f = fopen("link.rsp", "w");
		if (f == NULL || fputs("a.o b.o -o prog\n", f) < 0 || fclose(f) != 0)
			return 3;
		return finish(start(0, rsp, NULL));
	}
	return finish(start(forked, link, NULL));
}

/*
 * A host whose last act is one archiver call, for tests/exec_checks.rs:
 *
 *   final_spawn spawn|spawnp PROGRAM ARG...   posix_spawn[p](PROGRAM, [PROGRAM ARG...], environ)
 *   final_spawn system WORD...                system("WORD WORD ...")
 *   final_spawn fork PROGRAM ARG...           fork, execv(PROGRAM, [PROGRAM ARG...]), waitpid
 *
 * Its atexit handler prints "host: atexit ran" (left in the stdio buffer)
 * and, if HOST_UNLINK_AT_EXIT names a file, deletes it, as a linker removes
 * its temporary inputs at exit (the shim defers that deletion until the
 * archiver has run, and hands the process to its reaper to do it).
 *
 * HOST_STACK_KIB=N lowers its own soft stack limit to N KiB first (the
 * kernel sizes the room for an execve's arguments and environment by it),
 * so that its spawn meets a small limit that its own start did not.
 *
 * A spawn that fails: "host: spawn failed: ERROR" on stderr, exit 3.
 * Otherwise it waits and exits with the archiver's status (128+N for a
 * signal N); for system(), with the shell's exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void at_exit(void)
{
	printf("host: atexit ran\n");
	const char *doomed = getenv("HOST_UNLINK_AT_EXIT");
	if (doomed && *doomed)
		unlink(doomed);
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 4;
}

static int by_system(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *cmd = calloc(len, 1);
	if (!cmd)
		return 5;
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(cmd, " ");
		strcat(cmd, argv[i]);
	}
	int st = system(cmd);
	if (st == -1) {
		perror("host: system");
		return 3;
	}
	return status_of(st);
}

static int lower_stack_limit(void)
{
	const char *kib = getenv("HOST_STACK_KIB");
	if (!kib || !*kib)
		return 0;
	struct rlimit lim;
	if (getrlimit(RLIMIT_STACK, &lim) != 0)
		return -1;
	lim.rlim_cur = (rlim_t)strtoul(kib, NULL, 10) << 10;
	return setrlimit(RLIMIT_STACK, &lim);
}

static int by_fork(char **argv)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("host: fork");
		return 3;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		dprintf(2, "host: exec failed: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("host: waitpid");
		return 4;
	}
	return status_of(st);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: final_spawn spawn|spawnp|system PROGRAM ARG...\n");
		return 2;
	}
	if (atexit(at_exit) != 0 || lower_stack_limit() != 0)
		return 5;
	if (strcmp(argv[1], "system") == 0)
		return by_system(argc - 2, argv + 2);
	if (strcmp(argv[1], "fork") == 0)
		return by_fork(argv + 2);
	int search = strcmp(argv[1], "spawnp") == 0;
	pid_t pid;
	int err = search ? posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ)
			 : posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ);
	if (err != 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(err));
		return 3;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("host: waitpid");
		return 4;
	}
	return status_of(st);
}

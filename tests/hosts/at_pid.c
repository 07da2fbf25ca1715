/* at_pid N PROGRAM ARG...: runs PROGRAM as pid N.
 *
 * Started as the first process of a new pid namespace
 * (`unshare --pid --fork --mount-proc at_pid N …`): it writes N-1 to the
 * namespace's /proc/sys/kernel/ns_last_pid, forks, and the child, pid N,
 * execs PROGRAM. A test then runs the same host with pids of 2, 4 or 7
 * digits, which the machine's own pids cannot be made to give.
 *
 * The library must load into PROGRAM only, not into unshare or this
 * process: its variables come renamed with the prefix AT_PID_ and are put
 * back under their own names for PROGRAM (same names, same values, the
 * same environment size as a run without this wrapper).
 *
 * Exits as PROGRAM did: its status, or 128 + the signal that killed it
 * (the first process of a namespace cannot be killed by its own signals).
 * Other processes of the namespace are reaped while it waits; any left when
 * pid N ends die with the namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char PREFIX[] = "AT_PID_";

/* Every AT_PID_NAME=VALUE becomes NAME=VALUE. */
static void put_back_renamed(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **copy = calloc(n + 1, sizeof *copy);
	if (!copy) {
		perror("at_pid: calloc");
		exit(125);
	}
	for (size_t i = 0; i < n; i++)
		copy[i] = strdup(environ[i]);
	for (size_t i = 0; i < n; i++) {
		char *entry = copy[i];
		char *eq = strchr(entry, '=');
		if (!eq || strncmp(entry, PREFIX, sizeof PREFIX - 1) != 0)
			continue;
		*eq = '\0';
		if (unsetenv(entry) != 0 || setenv(entry + sizeof PREFIX - 1, eq + 1, 1) != 0) {
			perror("at_pid: setenv");
			exit(125);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: at_pid N PROGRAM ARG...\n");
		return 125;
	}
	if (getpid() != 1) {
		fprintf(stderr, "at_pid: not the first process of a pid namespace (pid %d)\n", getpid());
		return 125;
	}
	long want = strtol(argv[1], NULL, 10);
	if (want < 2) {
		fprintf(stderr, "at_pid: pid %s: must be 2 or more\n", argv[1]);
		return 125;
	}
	/* A namespace's pid_max may be lower than N (it can follow its
	 * parent's, 32768 here): raise it for this namespace alone. */
	long max = 0;
	FILE *pm = fopen("/proc/sys/kernel/pid_max", "r");
	if (!pm || fscanf(pm, "%ld", &max) != 1) {
		perror("at_pid: /proc/sys/kernel/pid_max");
		return 125;
	}
	fclose(pm);
	if (want >= max) {
		pm = fopen("/proc/sys/kernel/pid_max", "w");
		if (!pm || fprintf(pm, "%ld", want + 1000) < 0 || fclose(pm) != 0) {
			perror("at_pid: raising pid_max");
			return 125;
		}
	}
	FILE *last = fopen("/proc/sys/kernel/ns_last_pid", "w");
	if (!last || fprintf(last, "%ld", want - 1) < 0 || fclose(last) != 0) {
		perror("at_pid: /proc/sys/kernel/ns_last_pid");
		return 125;
	}
	put_back_renamed();
	pid_t child = fork();
	if (child < 0) {
		perror("at_pid: fork");
		return 125;
	}
	if (child == 0) {
		if (getpid() != want) {
			fprintf(stderr, "at_pid: got pid %d, not %ld\n", getpid(), want);
			_exit(125);
		}
		execvp(argv[2], argv + 2);
		perror("at_pid: exec");
		_exit(127);
	}
	int status;
	for (;;) {
		pid_t done = wait(&status);
		if (done == child)
			break;
		if (done < 0 && errno != EINTR) {
			perror("at_pid: wait");
			return 125;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

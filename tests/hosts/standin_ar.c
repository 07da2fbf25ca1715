/*
 * An ELF stand-in archiver for the wait-time handoff tests
 * (tests/fork_handoff.rs), installed as `ar` first on PATH.
 *
 * It is a real executable (not a #! script), like a real ar: a host that
 * forked and exec'd it sees an archiver in /proc/PID/exe.
 *
 * First it waits (bounded, 10 s) until its parent is blocked in a wait call
 * (/proc/PPID/wchan is "do_wait") or it has been re-parented (the host exited
 * without waiting; its parent is then init, pid 1): what it then sees of its parent is what holds the host's
 * pid while the archiver runs.  Then it appends one line to $STANDIN_RECORD:
 *
 *   pid=P ppid=Q gppid=R self_rss_kib=.. parent_rss_kib=.. gparent_rss_kib=..
 *   parent_exe=PATH parent_maps_shim=0|1 parent_waiting=0|1 waited_ms=N
 *
 * (the first six fields are those of the shell stand-in of tests/common), prints
 * "standin: archiving" on stdout and "standin: note on stderr" on stderr, and
 * then, depending on the environment:
 *
 *   STANDIN_EXIT=N         exit N without archiving.
 *   STANDIN_KILL=1         kill itself with SIGTERM without archiving.
 *   STANDIN_SWAP_DIR=D     run $STANDIN_REAL_AR as a child, then rename D to
 *   STANDIN_SWAP_TO=T      D.moved and plant a symlink D -> T; exit with
 *                          ar's status.
 *   (otherwise)            exec $STANDIN_REAL_AR with its own arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"

static void read_status(long pid, long *rss, long *ppid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	*rss = 0;
	*ppid = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[256];
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = atol(line + 6);
		else if (strncmp(line, "PPid:", 5) == 0)
			*ppid = atol(line + 5);
	}
	fclose(f);
}


static int maps_has_shim(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[4096];
	int found = 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "/libarshim.so") != NULL || strstr(line, "/libarshim_core.so") != NULL)
			found = 1;
	fclose(f);
	return found;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *real = getenv("STANDIN_REAL_AR");
	if (real == NULL || *real == '\0') {
		fprintf(stderr, "standin: STANDIN_REAL_AR is not set\n");
		return 99;
	}

	pid_t first_parent = getppid();
	long start = now_ms();
	int waiting = 0;
	while (now_ms() - start < 10000) {
		/* re-parented: the host exited without waiting (maybe before we ran) */
		if (getppid() != first_parent || getppid() == 1)
			break;
		if (parent_waiting(first_parent)) {
			waiting = 1;
			break;
		}
		usleep(2000);
	}
	long waited = now_ms() - start;

	pid_t ppid = getppid();
	long self_rss, parent_rss, gparent_rss, unused, gppid;
	read_status(getpid(), &self_rss, &unused);
	read_status(ppid, &parent_rss, &gppid);
	read_status(gppid, &gparent_rss, &unused);
	char exe[4096] = "";
	char link[64];
	snprintf(link, sizeof link, "/proc/%ld/exe", (long)ppid);
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	int maps = maps_has_shim(ppid);

	const char *record = getenv("STANDIN_RECORD");
	if (record != NULL && *record != '\0') {
		int fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd,
				"pid=%ld ppid=%ld gppid=%ld self_rss_kib=%ld parent_rss_kib=%ld gparent_rss_kib=%ld "
				"parent_exe=%s parent_maps_shim=%d parent_waiting=%d waited_ms=%ld\n",
				(long)getpid(), (long)ppid, gppid, self_rss, parent_rss, gparent_rss, exe, maps,
				waiting, waited);
			close(fd);
		}
	}
	printf("standin: archiving\n");
	fflush(stdout);
	fprintf(stderr, "standin: note on stderr\n");

	const char *code = getenv("STANDIN_EXIT");
	if (code != NULL && *code != '\0')
		return atoi(code);
	const char *kill_me = getenv("STANDIN_KILL");
	if (kill_me != NULL && *kill_me != '\0') {
		kill(getpid(), SIGTERM);
		pause();
		return 98;
	}

	argv[0] = (char *)real;
	const char *swap = getenv("STANDIN_SWAP_DIR");
	if (swap == NULL || *swap == '\0') {
		execv(real, argv);
		fprintf(stderr, "standin: cannot exec %s: %s\n", real, strerror(errno));
		return 97;
	}

	/* archive first (as a child), then swap the directory for a symlink */
	pid_t pid = fork();
	if (pid < 0)
		return 96;
	if (pid == 0) {
		execv(real, argv);
		_exit(97);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 95;
	const char *target = getenv("STANDIN_SWAP_TO");
	char moved[4096];
	snprintf(moved, sizeof moved, "%s.moved", swap);
	if (rename(swap, moved) != 0 || symlink(target != NULL ? target : "/nonexistent", swap) != 0) {
		fprintf(stderr, "standin: cannot swap %s: %s\n", swap, strerror(errno));
		return 94;
	}
	printf("standin: swapped %s for a symlink\n", swap);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 93;
}

/*
 * A slow archiver for the signal tests (tests/signals.rs): one that a user
 * interrupts with Ctrl-C, or that dies by a signal or fails by itself.
 *
 * It is an ELF program, like a real ar (a host that forked it sees an
 * archiver in /proc/PID/exe). First it waits (bounded, 10 s) until its
 * parent is blocked in a wait call (/proc/PPID/wchan is "do_wait"): then
 * whatever holds the host's pid — the host, or the reaper that replaced it —
 * is settled. Then it writes one line to $SLOW_AR_STARTED (a new file: the
 * test waits for it rather than sleeping):
 *
 *   pid=P ppid=Q parent_exe=PATH parent_waiting=0|1
 *
 * and, depending on the environment:
 *
 *   SLOW_AR_EXIT=N   exit N.
 *   SLOW_AR_KILL=N   kill itself with signal N.
 *   (otherwise)      wait for a signal; after 60 s, exit 99 (the test that
 *                    should have interrupted it failed to).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_common.h"


static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Written whole, then renamed into place: the test never reads half a line. */
static void mark_started(int waiting)
{
	const char *marker = getenv("SLOW_AR_STARTED");
	if (marker == NULL || *marker == '\0')
		return;
	char exe[4096] = "", link[64], tmp[4200];
	snprintf(link, sizeof link, "/proc/%ld/exe", (long)getppid());
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(tmp, sizeof tmp, "%s.tmp", marker);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "pid=%ld ppid=%ld parent_exe=%s parent_waiting=%d\n", (long)getpid(),
		(long)getppid(), exe, waiting);
	fclose(f);
	rename(tmp, marker);
}

int main(void)
{
	pid_t parent = getppid();
	long start = now_ms();
	int waiting = 0;
	while (now_ms() - start < 10000) {
		if (parent_waiting(parent)) {
			waiting = 1;
			break;
		}
		usleep(2000);
	}
	mark_started(waiting);

	const char *code = getenv("SLOW_AR_EXIT");
	if (code != NULL && *code != '\0')
		return atoi(code);
	const char *sig = getenv("SLOW_AR_KILL");
	if (sig != NULL && *sig != '\0') {
		kill(getpid(), atoi(sig));
		return 98;
	}
	long waited = now_ms();
	while (now_ms() - waited < 60000)
		sleep(1);
	return 99;
}

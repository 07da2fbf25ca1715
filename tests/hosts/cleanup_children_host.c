/*
 * A "legacy linker" whose exit cleanups wait for or signal its children, for
 * tests/cleanup_children.rs (the wait-time handoff runs those cleanups while
 * the archiver still runs).
 *
 *   cleanup_children_host HANDLER ARCHIVE OBJ...
 *
 * It moves into a process group of its own (so that a group signal stays
 * among its processes), registers the atexit HANDLER, fork+execvp's
 * `ar rcv ARCHIVE OBJ...` (PATH decides which ar), waitpid()s for it and
 * exits with its status (128+N if a signal N killed it).  HANDLER:
 *
 *   wait-all       while (wait(NULL) > 0) prints "host: cleanup reaped a
 *                  child"; then "host: cleanup wait: ERRNO-TEXT".
 *   waitpid-any    waitpid(-1, &st, 0) once: "host: cleanup waitpid(-1): -1
 *                  ERRNO-TEXT", or "... reaped a child, status N".
 *   waitpid-nohang waitpid(-1, &st, WNOHANG) once: the same lines ("0" when
 *                  children exist and none has ended).
 *   waitpid-group  waitpid(0, &st, 0) once (its own process group): the
 *                  same lines as waitpid-any.
 *   waitid-any     waitid(P_ALL, 0, &si, WEXITED): "host: cleanup waitid:
 *                  -1 ERRNO-TEXT" or "... reaped a child".
 *   kill-archiver  kill(ARCHIVER_PID, SIGTERM) (the pid it remembered):
 *                  "host: cleanup kill(archiver): 0" or "...: -1 ERRNO-TEXT".
 *   sigqueue-archiver  the same with sigqueue().
 *   kill-group     kill(0, SIGTERM) with a SIGTERM handler in the host that
 *                  writes "host: SIGTERM handled" to stderr: "host: cleanup
 *                  kill(0): R".
 *   killpg-own     the same handler; killpg(getpgrp(), SIGTERM): "host:
 *                  cleanup killpg(own): R".
 *   killpg-worker  before the archiver, a worker is forked into a process
 *                  group of its own, where it pause()s; the handler
 *                  killpg()s that group with SIGTERM, waits for the worker
 *                  and prints "host: cleanup killpg(worker): R, worker
 *                  killed by signal N".
 *   sibling        before the archiver, a worker is forked that sleeps 300
 *                  ms and exits 5; the handler's `while (wait(&st) > 0)`
 *                  prints "host: cleanup reaped a child, status N" for each,
 *                  then "host: cleanup wait: ERRNO-TEXT".
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *handler;
static pid_t archiver;
static pid_t worker;

static void on_term(int sig)
{
	static const char line[] = "host: SIGTERM handled\n";
	int saved = errno;
	(void)sig;
	ssize_t n = write(2, line, sizeof line - 1); /* async-signal-safe */
	(void)n;
	errno = saved;
}

static void print_result(const char *what, long r)
{
	if (r < 0)
		printf("host: cleanup %s: -1 %s\n", what, strerror(errno));
	else
		printf("host: cleanup %s: %ld\n", what, r);
}

static void wait_all(void)
{
	int status;
	while (wait(&status) > 0)
		printf("host: cleanup reaped a child, status %d\n", host_exit_code(status));
	printf("host: cleanup wait: %s\n", strerror(errno));
}

static void one_waitpid(pid_t which, int options)
{
	int status = 0;
	pid_t r = waitpid(which, &status, options);
	if (r > 0)
		printf("host: cleanup waitpid(-1): reaped a child, status %d\n", host_exit_code(status));
	else
		print_result("waitpid(-1)", r);
}

static void one_waitid(void)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int r = waitid(P_ALL, 0, &si, WEXITED);
	if (r == 0)
		printf("host: cleanup waitid: reaped a child\n");
	else
		print_result("waitid", r);
}

static void killpg_worker(void)
{
	int r = killpg(worker, SIGTERM);
	int saved = errno;
	int status = 0;
	while (waitpid(worker, &status, 0) < 0 && errno == EINTR)
		;
	errno = saved;
	print_result("killpg(worker)", r);
	if (WIFSIGNALED(status))
		printf("host: worker killed by signal %d\n", WTERMSIG(status));
}

static void at_exit(void)
{
	if (strcmp(handler, "wait-all") == 0 || strcmp(handler, "sibling") == 0) {
		wait_all();
	} else if (strcmp(handler, "waitpid-any") == 0) {
		one_waitpid(-1, 0);
	} else if (strcmp(handler, "waitpid-group") == 0) {
		one_waitpid(0, 0);
	} else if (strcmp(handler, "waitpid-nohang") == 0) {
		one_waitpid(-1, WNOHANG);
	} else if (strcmp(handler, "waitid-any") == 0) {
		one_waitid();
	} else if (strcmp(handler, "kill-archiver") == 0) {
		print_result("kill(archiver)", kill(archiver, SIGTERM));
	} else if (strcmp(handler, "sigqueue-archiver") == 0) {
		union sigval v = { .sival_int = 1 };
		print_result("sigqueue(archiver)", sigqueue(archiver, SIGTERM, v));
	} else if (strcmp(handler, "kill-group") == 0) {
		print_result("kill(0)", kill(0, SIGTERM));
	} else if (strcmp(handler, "killpg-own") == 0) {
		print_result("killpg(own)", killpg(getpgrp(), SIGTERM));
	} else if (strcmp(handler, "killpg-worker") == 0) {
		killpg_worker();
	}
}

/* A worker that never execs: HANDLER killpg-worker (own group, waits for a
 * signal) or sibling (sleeps 300 ms, exits 5). */
static void start_worker(int own_group)
{
	worker = fork();
	if (worker < 0)
		exit(3);
	if (worker == 0) {
		if (own_group) {
			for (;;)
				pause();
		}
		struct timespec ts = { 0, 300 * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		_exit(5);
	}
	if (own_group && setpgid(worker, worker) != 0)
		exit(3);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: cleanup_children_host HANDLER ARCHIVE OBJ...\n");
		return 2;
	}
	handler = argv[1];
	if (setpgid(0, 0) != 0) {
		fprintf(stderr, "host: setpgid: %s\n", strerror(errno));
		return 3;
	}
	long mib = host_touch_mib(64);
	if (mib > 0)
		host_hold("host", (size_t)mib << 20, mib);
	host_record_pid("host", "host");
	if (strcmp(handler, "kill-group") == 0 || strcmp(handler, "killpg-own") == 0)
		signal(SIGTERM, on_term); /* a handler: reset to default in ar */
	if (strcmp(handler, "killpg-worker") == 0)
		start_worker(1);
	else if (strcmp(handler, "sibling") == 0)
		start_worker(0);
	if (atexit(at_exit) != 0)
		return 4;

	char **child_argv = calloc((size_t)argc + 1, sizeof(char *));
	if (child_argv == NULL)
		return 4;
	child_argv[0] = "ar";
	child_argv[1] = "rcv";
	for (int i = 2; i < argc; i++)
		child_argv[i] = argv[i];
	archiver = fork();
	if (archiver < 0)
		return 3;
	if (archiver == 0) {
		execvp("ar", child_argv);
		_exit(127);
	}
	int status;
	while (waitpid(archiver, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "host: waitpid failed: %s\n", strerror(errno));
			exit(6);
		}
	exit(host_exit_code(status));
}

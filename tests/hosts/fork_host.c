/*
 * A "legacy linker" that spawns the archiver by hand, for the wait-time
 * handoff tests (tests/fork_handoff.rs, tests/exec_record.rs).
 *
 *   fork_host CALL WAIT TOOL ARCHIVE OBJ...
 *
 *   CALL  fork     fork + execvp(TOOL)         (TOOL found on PATH)
 *         vfork    vfork + execv(TOOL)         (TOOL is a path)
 *         spawnp   posix_spawnp(TOOL)
 *   WAIT  waitpid  waitpid(pid, &st, 0)
 *         wait     wait(&st)                   (-1: any child; it has one)
 *         wait3    wait3(&st, 0, &ru)
 *         wait4    wait4(pid, &st, 0, &ru)
 *         waitid   waitid(P_PID, pid, &si, WEXITED)
 *         none     never waits: exits at once after the spawn
 *
 * Like a big linker at its end: it holds HOST_TOUCH_MIB MiB (every page
 * written), has "host: buffered line" pending in its stdio buffer (stdout is
 * a file: never flushed explicitly), has an atexit handler printing
 * "host: atexit ran", runs `TOOL rcs ARCHIVE OBJ...`, waits for it and exits
 * with its status (128+N if a signal N killed it).  Nothing is printed after
 * the wait.
 *
 * Environment:
 *   HOST_PID_FILE       append "host PID" to this file.
 *   HOST_TOUCH_MIB      memory to hold (default 96).
 *   HOST_SIGCHLD_IGN=1  signal(SIGCHLD, SIG_IGN) before the spawn: the wait
 *                       then fails with ECHILD once the child ended, and the
 *                       host prints "host: archiver status unknown (ECHILD)"
 *                       and exits 0.
 *   HOST_RMTREE=DIR     a second atexit handler (it runs first) removes DIR,
 *                       the host's temp dir holding the objects, and prints
 *                       "host: removed DIR" (or "host: cannot remove ...").
 *   HOST_RMTREE_HOW     unlink (default: unlink each entry, then rmdir),
 *                       unlinkat (unlinkat on a dir fd, then AT_REMOVEDIR),
 *                       nftw (nftw depth-first, remove() on each).
 *   HOST_THREADS=N      start N threads that allocate, write and free memory
 *                       in a loop until the process ends.
 *   HOST_CHILD_DELAY_MS=N   (fork only) the child sleeps N ms before its exec,
 *                       like a child doing setup work first.  A vfork child
 *                       may only exec or _exit, so vfork ignores it.
 *   HOST_CHILD_CLOSE_FDS=N  (fork only) the child close()s every fd from 3
 *                       to N one by one before its exec, like a daemon-style
 *                       child closing up to the open-files limit.
 *   HOST_CHILD_STOP=1   (fork only) the child raise(SIGSTOP)s before its exec.
 *   HOST_WUNTRACED=1    the waitpid/wait3/wait4 call passes WUNTRACED (wait:
 *                       waitpid(-1, ..., WUNTRACED); waitid: WSTOPPED); a
 *                       stopped child is reported as
 *                       "host: child stopped by signal N", sent SIGCONT and
 *                       waited for again.
 *   HOST_INTR_MS=N      a SIGALRM handler installed without SA_RESTART and a
 *                       one-shot timer firing N ms after the spawn, while the
 *                       host is blocked in its wait: the handler writes
 *                       "host: SIGALRM handled" to stderr; each wait that
 *                       fails with EINTR prints "host: wait interrupted
 *                       (EINTR)" and the host waits again.
 *   HOST_INTR_RESTART=1 the same handler installed with SA_RESTART: the wait
 *                       is restarted, it never fails with EINTR.
 *   HOST_WORKER=FILE    before the archiver, fork a worker that never execs:
 *                       it computes, sleeps 100 ms, writes "worker done" to
 *                       FILE and _exit(0)s; the host waitpid()s for it and
 *                       prints "host: worker exited N" (its exit status).
 *
 * A TOOL that cannot be exec'd (say a path that does not exist): the child
 * _exit(127)s, and the host exits 127 like a shell would.
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static unsigned char *volatile ballast;
static volatile unsigned long thread_work;
static char *rmtree_dir;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

static int rmtree_unlink(const char *dir, int use_at)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int dfd = dirfd(d);
	int rc = 0;
	struct dirent *e;
	/* collect first: deleting while reading is fine, but keep it simple */
	char names[64][256];
	int n = 0;
	while ((e = readdir(d)) != NULL && n < 64) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	}
	for (int i = 0; i < n; i++) {
		if (use_at) {
			if (unlinkat(dfd, names[i], 0) != 0)
				rc = -1;
		} else {
			char path[8192];
			int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			if (len < 0 || (size_t)len >= sizeof path || unlink(path) != 0)
				rc = -1;
		}
	}
	closedir(d);
	if (use_at) {
		if (unlinkat(AT_FDCWD, dir, AT_REMOVEDIR) != 0)
			rc = -1;
	} else if (rmdir(dir) != 0) {
		rc = -1;
	}
	return rc;
}

static void rmtree_handler(void)
{
	const char *how = getenv("HOST_RMTREE_HOW");
	int rc;
	if (how != NULL && strcmp(how, "nftw") == 0)
		rc = nftw(rmtree_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else if (how != NULL && strcmp(how, "unlinkat") == 0)
		rc = rmtree_unlink(rmtree_dir, 1);
	else
		rc = rmtree_unlink(rmtree_dir, 0);
	if (rc == 0)
		printf("host: removed %s\n", rmtree_dir);
	else
		printf("host: cannot remove %s: %s\n", rmtree_dir, strerror(errno));
}

static void *busy_thread(void *arg)
{
	(void)arg;
	for (;;) {
		size_t size = 1 << 20;
		unsigned char *p = malloc(size);
		if (p != NULL) {
			memset(p, 0x33, size);
			thread_work += p[size / 2];
			free(p);
		}
	}
	return NULL;
}

static void touch_memory(void)
{
	long mib = host_touch_mib(96);
	if (mib > 0)
		ballast = host_hold("host", (size_t)mib << 20, mib);
}

/* The number in $NAME, 0 when unset. */
static long env_num(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? atol(v) : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void on_alarm(int sig)
{
	static const char line[] = "host: SIGALRM handled\n";
	int saved = errno;
	(void)sig;
	ssize_t n = write(2, line, sizeof line - 1); /* async-signal-safe */
	(void)n;
	errno = saved;
}

/* HOST_INTR_MS: a SIGALRM handler (HOST_INTR_RESTART: with SA_RESTART)
 * and a one-shot timer of MS. */
static void arm_interrupt(long ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	/* without SA_RESTART the wait fails with EINTR */
	sa.sa_flags = getenv("HOST_INTR_RESTART") != NULL ? SA_RESTART : 0;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		exit(4);
	struct itimerval it;
	memset(&it, 0, sizeof it);
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		exit(4);
}

/* HOST_WORKER: a forked worker that never execs; the host waits for it. */
static void run_worker(const char *file)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "host: fork failed: %s\n", strerror(errno));
		exit(3);
	}
	if (pid == 0) {
		volatile unsigned long sum = 0;
		for (unsigned long i = 0; i < 20000000UL; i++)
			sum += i * i;
		sleep_ms(100);
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "worker done\n", 12) != 12)
			_exit(9);
		close(fd);
		_exit(sum == 0 ? 8 : 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "host: waitpid (worker) failed: %s\n", strerror(errno));
			exit(6);
		}
	printf("host: worker exited %d\n", host_exit_code(status));
}

/* What a fork child does before its exec (HOST_CHILD_*): all of it is
 * async-signal-safe. */
static void child_setup(void)
{
	if (getenv("HOST_CHILD_STOP") != NULL)
		raise(SIGSTOP);
	long delay = env_num("HOST_CHILD_DELAY_MS");
	if (delay > 0)
		sleep_ms(delay);
	long last = env_num("HOST_CHILD_CLOSE_FDS");
	for (long fd = 3; fd <= last; fd++)
		close((int)fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: fork_host fork|vfork|spawnp waitpid|wait|wait3|wait4|waitid|none TOOL ARCHIVE OBJ...\n");
	exit(2);
}

static int wait_failed(const char *call)
{
	if (errno == ECHILD && getenv("HOST_SIGCHLD_IGN") != NULL) {
		printf("host: archiver status unknown (ECHILD)\n");
		return 0;
	}
	fprintf(stderr, "host: %s failed: %s\n", call, strerror(errno));
	return 6;
}

/* A wait call failed with errno: go on waiting (1) after EINTR. */
static int interrupted(void)
{
	if (errno != EINTR)
		return 0;
	if (getenv("HOST_INTR_MS") != NULL)
		printf("host: wait interrupted (EINTR)\n");
	return 1;
}

/* A stopped child (HOST_WUNTRACED): say so and let it go on. */
static void continue_stopped(pid_t pid, int sig)
{
	printf("host: child stopped by signal %d\n", sig);
	kill(pid, SIGCONT);
}

static int do_waitid(pid_t pid, int stopped)
{
	siginfo_t si;
	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | stopped) != 0) {
			if (!interrupted())
				return wait_failed("waitid");
		} else if (si.si_code == CLD_STOPPED) {
			continue_stopped(pid, si.si_status);
		} else {
			break;
		}
	}
	if (si.si_code == CLD_EXITED)
		return si.si_status;
	return 128 + si.si_status;
}

static int do_wait(const char *how, pid_t pid)
{
	int status = 0;
	struct rusage ru;
	pid_t r;
	int untraced = getenv("HOST_WUNTRACED") != NULL;
	if (strcmp(how, "waitid") == 0)
		return do_waitid(pid, untraced ? WSTOPPED : 0);
	int options = untraced ? WUNTRACED : 0;
	for (;;) {
		if (strcmp(how, "waitpid") == 0)
			r = waitpid(pid, &status, options);
		else if (strcmp(how, "wait") == 0)
			r = options ? waitpid(-1, &status, options) : wait(&status);
		else if (strcmp(how, "wait3") == 0)
			r = wait3(&status, options, &ru);
		else
			r = wait4(pid, &status, options, &ru);
		if (r >= 0 && WIFSTOPPED(status)) {
			continue_stopped(r, WSTOPSIG(status));
			continue;
		}
		if (r >= 0)
			break;
		if (!interrupted())
			return wait_failed(how);
	}
	if (r != pid) {
		fprintf(stderr, "host: waited for %ld, expected %ld\n", (long)r, (long)pid);
		return 6;
	}
	return host_exit_code(status);
}

int main(int argc, char **argv)
{
	if (argc < 6)
		usage();
	const char *call = argv[1], *how = argv[2], *tool = argv[3];
	if (strcmp(call, "fork") != 0 && strcmp(call, "vfork") != 0 && strcmp(call, "spawnp") != 0)
		usage();
	if (strcmp(how, "waitpid") != 0 && strcmp(how, "wait") != 0 && strcmp(how, "wait3") != 0 &&
	    strcmp(how, "wait4") != 0 && strcmp(how, "waitid") != 0 && strcmp(how, "none") != 0)
		usage();

	touch_memory();
	host_record_pid("host", "host");
	if (atexit(host_at_exit_handler) != 0)
		exit(4);
	rmtree_dir = getenv("HOST_RMTREE");
	if (rmtree_dir != NULL && *rmtree_dir != '\0' && atexit(rmtree_handler) != 0)
		exit(4);

	const char *threads = getenv("HOST_THREADS");
	int nthreads = threads != NULL ? atoi(threads) : 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, busy_thread, NULL) != 0) {
			fprintf(stderr, "host: pthread_create failed\n");
			exit(4);
		}
	}

	const char *worker = getenv("HOST_WORKER");
	if (worker != NULL && *worker != '\0')
		run_worker(worker);

	printf("host: buffered line\n"); /* stdout is a file: stays buffered */

	/* child argv: TOOL rcs ARCHIVE OBJ... */
	char **child_argv = host_archiver_argv(tool, argc - 4, &argv[4]);

	if (getenv("HOST_SIGCHLD_IGN") != NULL)
		signal(SIGCHLD, SIG_IGN);

	pid_t pid;
	if (strcmp(call, "spawnp") == 0) {
		int r = posix_spawnp(&pid, tool, NULL, NULL, child_argv, environ);
		if (r != 0) {
			fprintf(stderr, "host: spawn failed: %s\n", strerror(r));
			exit(3);
		}
	} else if (strcmp(call, "fork") == 0) {
		pid = fork();
		if (pid == 0) {
			child_setup();
			execvp(tool, child_argv);
			_exit(127);
		}
	} else {
		pid = vfork();
		if (pid == 0) {
			execv(tool, child_argv);
			_exit(127);
		}
	}
	if (pid < 0) {
		fprintf(stderr, "host: fork failed: %s\n", strerror(errno));
		exit(3);
	}

	if (strcmp(how, "none") == 0)
		exit(0);
	long intr_ms = env_num("HOST_INTR_MS");
	if (intr_ms > 0)
		arm_interrupt(intr_ms);
	exit(do_wait(how, pid));
}

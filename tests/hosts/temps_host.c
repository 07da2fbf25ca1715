/*
 * A host that makes temporaries, spawns the archiver last and deletes its
 * temporaries in its main code after the spawn returns (as ghc -staticlib
 * does with $TMPDIR/ghcPID_0), for tests/temps.rs:
 *
 *   temps_host AR ARG...
 *
 * Before the spawn, in $TMPDIR (else /tmp):
 *   - mkdtemp("tool-XXXXXX"), exported to the archiver as HOST_TEMP_DIR;
 *   - in it: a.tmp (open O_CREAT|O_EXCL), b.tmp (open O_CREAT|O_TRUNC of a
 *     new name), c.tmp (fopen "w"), and HOST_TEMPS_N more files n<i>.tmp
 *     (open O_CREAT|O_EXCL) made by HOST_THREADS threads at once (default
 *     1), each with one line;
 *   - if HOST_REUSE names a file (which exists already), it is opened
 *     O_CREAT|O_TRUNC and written to, and deleted after the spawn like the
 *     rest (though the host did not create it).
 * Then posix_spawnp(AR, [AR ARG...]) (HOST_CALL=fork: fork and execvp),
 * waitpid, and in its main code unlink
 * of every file above and rmdir of the directory (errors ignored, as a
 * tool cleaning up its temp dir). Exits with the archiver's status (128+N
 * for a signal N). Prints nothing after the spawn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char dir[4096];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static int write_line(int fd, const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof line, "temporary %s\n", what);
	int ok = write(fd, line, (size_t)n) == n;
	return close(fd) == 0 && ok ? 0 : -1;
}

struct share {
	long extra, threads, first;
	int failed;
};

/* Files n<i>.tmp for i = first, first + threads, ... (open O_CREAT|O_EXCL). */
static void *make_share(void *arg)
{
	struct share *s = arg;
	char p[4200];
	for (long i = s->first; i < s->extra; i += s->threads) {
		char name[64];
		snprintf(name, sizeof name, "n%ld.tmp", i);
		path_in(p, sizeof p, name);
		if (write_line(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644), name) != 0)
			s->failed = 1;
	}
	return NULL;
}

/* The extra files, made by HOST_THREADS threads at once (default 1). */
static int make_extra(long extra)
{
	const char *t = getenv("HOST_THREADS");
	long threads = t && *t ? strtol(t, NULL, 10) : 1;
	if (threads < 1 || threads > 16)
		return -1;
	pthread_t ids[16];
	struct share shares[16];
	for (long i = 0; i < threads; i++) {
		shares[i] = (struct share){ extra, threads, i, 0 };
		if (pthread_create(&ids[i], NULL, make_share, &shares[i]) != 0)
			return -1;
	}
	int failed = 0;
	for (long i = 0; i < threads; i++) {
		pthread_join(ids[i], NULL);
		failed |= shares[i].failed;
	}
	return failed ? -1 : 0;
}

static int make_temps(long extra)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/tool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	char p[4200];
	path_in(p, sizeof p, "a.tmp");
	if (write_line(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644), "a") != 0)
		return -1;
	path_in(p, sizeof p, "b.tmp");
	if (write_line(open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644), "b") != 0)
		return -1;
	path_in(p, sizeof p, "c.tmp");
	FILE *c = fopen(p, "w");
	if (!c || fputs("temporary c\n", c) < 0 || fclose(c) != 0)
		return -1;
	if (make_extra(extra) != 0)
		return -1;
	const char *reuse = getenv("HOST_REUSE");
	if (reuse && *reuse &&
	    write_line(open(reuse, O_WRONLY | O_CREAT | O_TRUNC, 0644), "reused") != 0)
		return -1;
	return setenv("HOST_TEMP_DIR", dir, 1);
}

static void remove_temps(long extra)
{
	const char *names[] = { "a.tmp", "b.tmp", "c.tmp" };
	char p[4200];
	for (int i = 0; i < 3; i++) {
		path_in(p, sizeof p, names[i]);
		unlink(p);
	}
	for (long i = 0; i < extra; i++) {
		char name[64];
		snprintf(name, sizeof name, "n%ld.tmp", i);
		path_in(p, sizeof p, name);
		unlink(p);
	}
	const char *reuse = getenv("HOST_REUSE");
	if (reuse && *reuse)
		unlink(reuse);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: temps_host AR ARG...\n");
		return 2;
	}
	const char *n = getenv("HOST_TEMPS_N");
	long extra = n && *n ? strtol(n, NULL, 10) : 0;
	if (make_temps(extra) != 0) {
		perror("temps_host: making temporaries");
		return 2;
	}
	pid_t pid;
	int err = 0;
	const char *call = getenv("HOST_CALL");
	if (call && strcmp(call, "fork") == 0) {
		pid = fork();
		if (pid == 0) {
			execvp(argv[1], argv + 1);
			_exit(127);
		}
		if (pid < 0)
			err = errno;
	} else {
		err = posix_spawnp(&pid, argv[1], NULL, NULL, argv + 1, environ);
	}
	if (err) {
		fprintf(stderr, "temps_host: spawn failed: %s\n", strerror(err));
		return 3;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 4;
	remove_temps(extra);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 4;
}

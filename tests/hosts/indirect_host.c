/*
 * A "legacy linker" whose archiver names its inputs indirectly, or which
 * runs a read-only archiver first (tests/indirect_inputs.rs).
 *
 *   indirect_host [-r DIR] [-i FILE] [-f FILE] [-p ARGS] CALL TOOL ARG...
 *
 *   CALL   spawnp   posix_spawnp(TOOL, ARG...), waitpid
 *          system   system("TOOL ARG...") (the words joined by spaces)
 *          fork     fork + execvp(TOOL, ARG...), waitpid
 *   -r DIR   an atexit handler removes DIR and everything in it, as a
 *            linker removes its temp dir (it runs at exit, after the spawn
 *            call returned and the archiver was waited for).
 *   -i FILE  (spawnp, fork) the archiver's stdin is a pipe: the host writes
 *            FILE's bytes into it after the spawn, then closes its end.
 *   -f FILE  (spawnp, fork) the archiver's stdin is FILE (spawnp: addopen
 *            onto fd 0; fork: opened and dup2'd by the child).
 *   -p ARGS  first runs TOOL with ARGS (split at spaces) the same way and
 *            waits for it; if that fails the host exits 5.
 *
 * Holds HOST_TOUCH_MIB MiB (default 64) like a big linker, appends
 * "host PID" to $HOST_PID_FILE, exits with the final archiver's status
 * (128+N if a signal N killed it); prints nothing itself except errors.
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Written through a volatile pointer so the compiler keeps every page. */
static unsigned char *volatile ballast;
static const char *rmtree_dir;
static const char *pipe_file;
static const char *stdin_file;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_tree(void)
{
	if (nftw(rmtree_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		perror("host: remove temp dir");
}

/* Feeds FILE into the pipe's write end, then closes it. */
static void feed(int wfd)
{
	char buf[4096];
	int in = open(pipe_file, O_RDONLY);
	if (in < 0) {
		perror("host: open script");
		exit(6);
	}
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(wfd, buf, (size_t)n) != n) {
			perror("host: write");
			exit(6);
		}
	close(in);
	close(wfd);
}

static int wait_for(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("host: waitpid");
		exit(3);
	}
	return host_exit_code(st);
}

static int run_spawnp(char **argv)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	int p[2] = {-1, -1};
	if (pipe_file) {
		if (pipe2(p, O_CLOEXEC) != 0)
			exit(3);
		posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	} else if (stdin_file) {
		posix_spawn_file_actions_addopen(&fa, 0, stdin_file, O_RDONLY, 0);
	}
	pid_t pid;
	int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (err != 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(err));
		exit(3);
	}
	if (pipe_file) {
		close(p[0]);
		feed(p[1]);
	}
	return wait_for(pid);
}

static int run_fork(char **argv)
{
	int p[2] = {-1, -1};
	if (pipe_file && pipe(p) != 0)
		exit(3);
	pid_t pid = fork();
	if (pid < 0)
		exit(3);
	if (pid == 0) {
		if (pipe_file) {
			dup2(p[0], 0);
			close(p[0]);
			close(p[1]);
		} else if (stdin_file) {
			int fd = open(stdin_file, O_RDONLY);
			if (fd < 0 || dup2(fd, 0) < 0)
				_exit(126);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pipe_file) {
		close(p[0]);
		feed(p[1]);
	}
	return wait_for(pid);
}

static int run_system(char **argv)
{
	size_t len = 1;
	for (char **a = argv; *a; a++)
		len += strlen(*a) + 1;
	char *cmd = calloc(1, len);
	for (char **a = argv; *a; a++) {
		strcat(cmd, *a);
		if (a[1])
			strcat(cmd, " ");
	}
	int st = system(cmd);
	free(cmd);
	return st == -1 ? 3 : host_exit_code(st);
}

static int run(const char *call, char **argv)
{
	if (strcmp(call, "spawnp") == 0)
		return run_spawnp(argv);
	if (strcmp(call, "fork") == 0)
		return run_fork(argv);
	if (strcmp(call, "system") == 0)
		return run_system(argv);
	fprintf(stderr, "host: unknown call %s\n", call);
	exit(2);
}

/* TOOL followed by the words of ARGS. */
static char **split_args(const char *tool, char *args)
{
	char **v = calloc(strlen(args) + 2, sizeof *v);
	int n = 0;
	v[n++] = (char *)tool;
	for (char *w = strtok(args, " "); w; w = strtok(NULL, " "))
		v[n++] = w;
	return v;
}

int main(int argc, char **argv)
{
	char *prior = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+r:i:f:p:")) != -1) {
		switch (opt) {
		case 'r': rmtree_dir = optarg; break;
		case 'i': pipe_file = optarg; break;
		case 'f': stdin_file = optarg; break;
		case 'p': prior = optarg; break;
		default: exit(2);
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: indirect_host [-r DIR] [-i FILE] [-f FILE] [-p ARGS] CALL TOOL ARG...\n");
		exit(2);
	}
	host_record_pid("indirect_host", "host");
	long mib = host_touch_mib(64);
	if (mib > 0)
		ballast = host_hold("indirect_host", (size_t)mib << 20, mib);
	if (rmtree_dir)
		atexit(remove_tree);
	const char *call = argv[optind];
	char **final = argv + optind + 1;
	if (prior) {
		const char *keep_pipe = pipe_file, *keep_file = stdin_file;
		pipe_file = stdin_file = NULL;
		if (run(call, split_args(final[0], prior)) != 0)
			exit(5);
		pipe_file = keep_pipe, stdin_file = keep_file;
	}
	fflush(stdout);
	return run(call, final);
}

/*
 * A "legacy linker" for the tests of what `arshim verify` sees after the
 * archiver (tests/verify_after.rs): it runs `ar rcs ARCHIVE OBJ...`
 * (posix_spawnp, waitpid), and then, depending on MODE, does work that a
 * conversion would lose — or that it keeps.
 *
 *   after_host MODE ARCHIVE OBJ...
 *
 *   vfork-cp     then vfork() + execvp("cp", ARCHIVE, installed.a), waits.
 *   grandchild   forks a helper BEFORE ar, which waits on a pipe; after ar
 *                the host lets it go, and the helper forks + execvp's
 *                `cp ARCHIVE installed.a` (a grandchild of the host), waits.
 *   helper-spawn, helper-system, helper-popen
 *                as grandchild, but the helper runs `cp ARCHIVE installed.a`
 *                with posix_spawnp, system() or popen().
 *   self-exec    then execvp("cp", ARCHIVE, installed.a) in its own pid.
 *   ar-twice     then posix_spawnp(`ar rcs second.a OBJ...`), waits.
 *   ar-twice-vfork  then vfork() + execvp(`ar rcs second.a OBJ...`), waits.
 *   ar-twice-fork   the same with fork().
 *   on-exit      registers an on_exit handler (writing on_exit.txt) first.
 *   delete-main  makes a temp dir ($AFTER_HOST_TMP, default /tmp, then
 *                after_host.XXXXXX, with t.o) first; after ar, deletes
 *                both in its main code.
 *   delete-exit  the same, but the deletions are made by an atexit handler.
 *   many         then vfork() + execvp("true") 80 times, and only then waits
 *                for the 80 children (more execs than the record holds).
 *
 * Exit status: ar's (then that of the last child); 3 if a call failed;
 * 2 on usage errors. Prints nothing itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char temp_dir[4096];
static char temp_file[4096 + 8];

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "after_host: waitpid: %s\n", strerror(errno));
			return 3;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* ar rcs ARCHIVE OBJ... as a NULL-terminated vector (static storage). */
static char **ar_argv(const char *archive, int nobj, char **objs)
{
	static char *v[256];
	int n = 0;
	v[n++] = "ar";
	v[n++] = "rcs";
	v[n++] = (char *)archive;
	for (int i = 0; i < nobj && n < 255; i++)
		v[n++] = objs[i];
	v[n] = NULL;
	return v;
}

static int spawn_ar(const char *archive, int nobj, char **objs)
{
	pid_t pid;
	int rc = posix_spawnp(&pid, "ar", NULL, NULL, ar_argv(archive, nobj, objs), environ);
	if (rc != 0) {
		fprintf(stderr, "after_host: spawn failed: %s\n", strerror(rc));
		return 3;
	}
	return wait_status(pid);
}

static int vfork_exec(char **argv)
{
	pid_t pid = vfork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return wait_status(pid);
}

static int fork_exec(char **argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return wait_status(pid);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("after_host: write");
		close(fd);
	}
}

static void on_exit_handler(int status, void *arg)
{
	(void)status;
	write_file((const char *)arg, "on_exit ran\n");
}

static void make_temp(void)
{
	const char *tmp = getenv("AFTER_HOST_TMP");
	snprintf(temp_dir, sizeof temp_dir, "%s/after_host.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(temp_dir)) {
		perror("after_host: mkdtemp");
		exit(3);
	}
	snprintf(temp_file, sizeof temp_file, "%s/t.o", temp_dir);
	write_file(temp_file, "temp\n");
}

static void remove_temp(void)
{
	unlink(temp_file);
	rmdir(temp_dir);
}

/* `n` children exec `true` (vfork: each has exec'd when vfork returns),
 * then they are waited for: 0 if all exited 0. */
static int many_trues(int n)
{
	char *argv[] = {"true", NULL};
	pid_t pids[128];
	int rc = 0;
	for (int i = 0; i < n && i < 128; i++) {
		pids[i] = vfork();
		if (pids[i] == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		if (pids[i] < 0)
			return 3;
	}
	for (int i = 0; i < n && i < 128; i++)
		if (wait_status(pids[i]) != 0)
			rc = 1;
	return rc;
}

/* `cp ARCHIVE installed.a` as `how` says: "fork" (+ execvp), "spawn"
 * (posix_spawnp), "system" or "popen"; its status. */
static int run_cp(const char *how, const char *archive)
{
	char *cp[] = {"cp", (char *)archive, "installed.a", NULL};
	char line[4200];
	snprintf(line, sizeof line, "cp '%s' installed.a", archive);
	if (strcmp(how, "spawn") == 0) {
		pid_t pid;
		if (posix_spawnp(&pid, "cp", NULL, NULL, cp, environ) != 0)
			return 3;
		return wait_status(pid);
	}
	if (strcmp(how, "system") == 0)
		return WEXITSTATUS(system(line));
	if (strcmp(how, "popen") == 0) {
		FILE *f = popen(line, "r");
		return f ? WEXITSTATUS(pclose(f)) : 3;
	}
	return fork_exec(cp);
}

/* A helper forked before ar: waits for one byte on `go`, then runs
 * `cp ARCHIVE installed.a` as `how` says, and exits with its status. */
static pid_t helper(int go, const char *archive, const char *how)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	char byte;
	if (read(go, &byte, 1) != 1)
		_exit(4);
	_exit(run_cp(how, archive));
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: after_host MODE ARCHIVE OBJ...\n");
		return 2;
	}
	const char *mode = argv[1], *archive = argv[2];
	int nobj = argc - 3;
	char **objs = argv + 3;
	char *cp[] = {"cp", (char *)archive, "installed.a", NULL};
	int pipefd[2] = {-1, -1};
	pid_t helper_pid = -1;

	if (strcmp(mode, "on-exit") == 0)
		on_exit(on_exit_handler, "on_exit.txt");
	if (strcmp(mode, "delete-main") == 0 || strcmp(mode, "delete-exit") == 0)
		make_temp();
	if (strcmp(mode, "delete-exit") == 0)
		atexit(remove_temp);
	int helped = strcmp(mode, "grandchild") == 0 || strncmp(mode, "helper-", 7) == 0;
	if (helped) {
		if (pipe(pipefd) != 0)
			return 3;
		const char *how = strncmp(mode, "helper-", 7) == 0 ? mode + 7 : "fork";
		helper_pid = helper(pipefd[0], archive, how);
		if (helper_pid < 0)
			return 3;
	}

	int rc = spawn_ar(archive, nobj, objs);
	if (rc != 0)
		return rc;

	if (strcmp(mode, "vfork-cp") == 0)
		return vfork_exec(cp);
	if (helped) {
		if (write(pipefd[1], "g", 1) != 1)
			return 3;
		return wait_status(helper_pid);
	}
	if (strcmp(mode, "self-exec") == 0) {
		execvp(cp[0], cp);
		return 127;
	}
	if (strcmp(mode, "ar-twice") == 0)
		return spawn_ar("second.a", nobj, objs);
	if (strcmp(mode, "ar-twice-vfork") == 0)
		return vfork_exec(ar_argv("second.a", nobj, objs));
	if (strcmp(mode, "ar-twice-fork") == 0)
		return fork_exec(ar_argv("second.a", nobj, objs));
	if (strcmp(mode, "delete-main") == 0)
		remove_temp();
	if (strcmp(mode, "many") == 0)
		return many_trues(80);
	return 0;
}

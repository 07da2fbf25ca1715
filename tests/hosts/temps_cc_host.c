/*
 * A host whose temporaries are written by its children (as ghc -staticlib's
 * .s and .o files are, by gcc and as), for tests/temps.rs:
 *
 *   temps_cc_host SOURCE.c
 *
 * In $TMPDIR (else /tmp): mkdtemp("tool-XXXXXX") (exported as
 * HOST_TEMP_DIR), then posix_spawnp("cc", -c SOURCE.c -o DIR/x.o) and
 * waitpid; then posix_spawnp("ar", rcsv lib.a DIR/x.o) last, waitpid, and
 * in its main code unlink of DIR/x.o and rmdir of DIR (errors ignored).
 * Variants:
 *   HOST_CC_RENAME=1  cc writes DIR/x.o.tmp, which the host renames x.o
 *                     (ghc's assembler outputs);
 *   HOST_CC_RSP=1     cc's arguments go through DIR/cc.rsp (`cc @DIR/cc.rsp`,
 *                     written with fopen "w", deleted with the rest);
 *   HOST_CC_OUT=PATH  cc writes PATH instead of DIR/x.o (and ar reads it,
 *                     and the host unlinks it);
 *   HOST_CC_FORK=1    cc and ar are started with fork and execvp instead
 *                     of posix_spawnp (a host built on fork);
 *   HOST_CC_WAIT_ANY=1  with HOST_CC_FORK=1: cc is started beside another
 *                     child (`cat`, reading a pipe the host holds open
 *                     until cc is reaped), and both are reaped by
 *                     wait(&st): cc by a wait(-1) with two children.
 * Exits with ar's status; 2-5 when its own steps fail.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int flag(const char *name);

/* argv[0] started by fork and execvp; -1 when it cannot be. */
static int fork_exec(pid_t *pid, char **argv)
{
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return 0;
}

static int spawn_wait(char **argv)
{
	pid_t pid;
	int st;
	if (flag("HOST_CC_FORK")) {
		if (fork_exec(&pid, argv) != 0)
			return -1;
	} else if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static int flag(const char *name)
{
	const char *v = getenv(name);
	return v && strcmp(v, "1") == 0;
}

/* argv[0] started beside `cat` (reading a pipe kept open until argv[0] is
 * reaped, so `cat` is still there), both reaped by wait(&st): argv[0]'s status. */
static int fork_wait_any(char **argv)
{
	char *other[] = { "cat", NULL };
	int pipefd[2];
	pid_t pid, sibling;
	int st, status = -1;
	if (pipe(pipefd) != 0)
		return -1;
	sibling = fork();
	if (sibling < 0)
		return -1;
	if (sibling == 0) {
		dup2(pipefd[0], 0);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp(other[0], other);
		_exit(127);
	}
	close(pipefd[0]);
	if (fork_exec(&pid, argv) != 0)
		return -1;
	for (int left = 2; left > 0; left--) {
		pid_t done = wait(&st);
		if (done < 0)
			return -1;
		if (done == pid) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			close(pipefd[1]); /* now cat ends */
		}
	}
	return status;
}

/* cc -c SOURCE -o OUT, through DIR/cc.rsp when HOST_CC_RSP=1. */
static int compile(const char *dir, const char *source, const char *out)
{
	char rsp[4200], at[4300];
	if (!flag("HOST_CC_RSP")) {
		char *cc[] = { "cc", "-c", (char *)source, "-o", (char *)out, NULL };
		if (flag("HOST_CC_FORK") && flag("HOST_CC_WAIT_ANY"))
			return fork_wait_any(cc);
		return spawn_wait(cc);
	}
	snprintf(rsp, sizeof rsp, "%s/cc.rsp", dir);
	FILE *f = fopen(rsp, "w");
	if (!f || fprintf(f, "-c %s -o %s\n", source, out) < 0 || fclose(f) != 0)
		return -1;
	snprintf(at, sizeof at, "@%s", rsp);
	char *cc[] = { "cc", at, NULL };
	return spawn_wait(cc);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: temps_cc_host SOURCE.c\n");
		return 2;
	}
	const char *tmp = getenv("TMPDIR");
	char dir[4096], obj[4200], made[4300], rsp[4200];
	snprintf(dir, sizeof dir, "%s/tool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || setenv("HOST_TEMP_DIR", dir, 1) != 0)
		return 2;
	const char *named = getenv("HOST_CC_OUT");
	snprintf(obj, sizeof obj, "%s/x.o", dir);
	if (named && *named)
		snprintf(obj, sizeof obj, "%s", named);
	snprintf(made, sizeof made, "%s%s", obj, flag("HOST_CC_RENAME") ? ".tmp" : "");
	if (compile(dir, argv[1], made) != 0)
		return 3;
	if (flag("HOST_CC_RENAME") && rename(made, obj) != 0)
		return 4;
	char *ar[] = { "ar", "rcsv", "lib.a", obj, NULL };
	int status = spawn_wait(ar);
	unlink(obj);
	snprintf(rsp, sizeof rsp, "%s/cc.rsp", dir);
	unlink(rsp);
	rmdir(dir);
	return status < 0 ? 5 : status;
}

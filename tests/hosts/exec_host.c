/*
 * exec_host — one call of the exec family, made by this process or by a
 * forked child of it (tests/exec_family.rs).
 *
 *   exec_host direct|child FUNC CASE
 *
 * FUNC: execve execv execvp execvpe execl execlp execle fexecve execveat
 * CASE: run     the program exec_show ($EXEC_SHOW; by name on PATH for the
 *               searching calls), argv "NAME" "a b" "c"
 *       script  an executable text file without "#!" ($EXEC_SCRIPT; by name
 *               for the searching calls: glibc runs it with /bin/sh)
 *       enoent  a program that does not exist (fexecve: the descriptor -1)
 *       eacces  a file without any execute bit ($EXEC_NOEXEC; by name)
 *       e2big   as run, with one argument of 200,000 bytes
 *       empty   execveat only: the open program with "" and AT_EMPTY_PATH
 *       empty_eacces  the same with the file without execute bit
 *       empty_noflag  the open program with "" but no AT_EMPTY_PATH
 * The calls that take an environment get {"EXEC_MARK=given"}; the others
 * pass on environ (the test sets EXEC_MARK=inherited).
 * A failed exec prints "FUNC: -1 errno NAME" and exits 3; "child" prints
 * the child's status after it ends and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *given_env[] = {"EXEC_MARK=given", NULL};

static const char *errno_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case ENOSYS: return "ENOSYS";
	default: return "other";
	}
}

/* The program CASE names: a path, or a name for the searching calls. */
static const char *program(const char *cas, int search)
{
	if (!strcmp(cas, "script"))
		return search ? "exec_script" : getenv("EXEC_SCRIPT");
	if (!strcmp(cas, "enoent"))
		return search ? "exec_no_such_program" : "/nonexistent/exec_show";
	if (!strcmp(cas, "eacces") || !strcmp(cas, "empty_eacces"))
		return search ? "exec_noexec" : getenv("EXEC_NOEXEC");
	return search ? "exec_show" : getenv("EXEC_SHOW");
}

static int open_program(const char *path)
{
	return strcmp(path, "/nonexistent/exec_show") ? open(path, O_RDONLY) : -1;
}

/* The call; returns only if it failed. */
static int call(const char *func, const char *cas, char **argv)
{
	int search = !strcmp(func, "execvp") || !strcmp(func, "execvpe") || !strcmp(func, "execlp");
	const char *prog = program(cas, search);
	char *big = argv[3];
	if (!strcmp(func, "execve"))
		return execve(prog, argv, given_env);
	if (!strcmp(func, "execv"))
		return execv(prog, argv);
	if (!strcmp(func, "execvp"))
		return execvp(prog, argv);
	if (!strcmp(func, "execvpe"))
		return execvpe(prog, argv, given_env);
	if (!strcmp(func, "execl"))
		return execl(prog, argv[0], argv[1], argv[2], big, (char *)NULL);
	if (!strcmp(func, "execlp"))
		return execlp(prog, argv[0], argv[1], argv[2], big, (char *)NULL);
	if (!strcmp(func, "execle") && big == NULL)
		return execle(prog, argv[0], argv[1], argv[2], (char *)NULL, given_env);
	if (!strcmp(func, "execle"))
		return execle(prog, argv[0], argv[1], argv[2], big, (char *)NULL, given_env);
	if (!strcmp(func, "fexecve"))
		return fexecve(open_program(prog), argv, given_env);
	if (!strcmp(func, "execveat")) {
		if (!strcmp(cas, "empty") || !strcmp(cas, "empty_eacces"))
			return execveat(open_program(prog), "", argv, given_env, AT_EMPTY_PATH);
		if (!strcmp(cas, "empty_noflag"))
			return execveat(open_program(prog), "", argv, given_env, 0);
		return execveat(AT_FDCWD, prog, argv, given_env, 0);
	}
	fprintf(stderr, "exec_host: unknown FUNC %s\n", func);
	exit(2);
}

/* Calls FUNC; on failure reports it and ends this process with 3. */
static void exec_or_report(const char *func, const char *cas)
{
	static char big[200001];
	char *argv[] = {(char *)func, "a b", "c", NULL, NULL};
	if (!strcmp(cas, "e2big")) {
		memset(big, 'x', sizeof big - 1);
		argv[3] = big;
	}
	int rc = call(func, cas, argv);
	int e = errno;
	dprintf(1, "%s: %d errno %s\n", func, rc, errno_name(e));
	_exit(3);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: exec_host direct|child FUNC CASE\n");
		return 2;
	}
	if (!strcmp(argv[1], "direct"))
		exec_or_report(argv[2], argv[3]);
	pid_t pid = fork();
	if (pid < 0) {
		perror("exec_host: fork");
		return 2;
	}
	if (pid == 0)
		exec_or_report(argv[2], argv[3]);
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("exec_host: waitpid");
		return 2;
	}
	dprintf(1, "child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/*
 * A "legacy linker" for the `arshim verify` tests (tests/verify.rs): it ends
 * by running `ar rcs ARCHIVE OBJ...`, and then, depending on MODE, does or
 * does not do more work that a conversion would lose.
 *
 *   verify_host MODE ARCHIVE OBJ...
 *
 *   final         posix_spawnp(ar), wait, exit with ar's status: the spawn
 *                 is final. An atexit handler deletes the host's temp file
 *                 (deleting is allowed; converted, the handler runs before
 *                 the exec, so nothing is left behind).
 *   fork          fork + execvp(ar), waitpid, exit: final too.
 *                 (Both print "verify_host: ar failed" on stderr when ar
 *                 failed, after it, as ldc2 does.)
 *   write-after   final, then writes "done" to after.txt.
 *   ranlib-after  final, then runs `ranlib ARCHIVE` (posix_spawnp) and waits.
 *   print-after   final, then prints "host: archive written" on stdout.
 *   install       exits 1 silently when ar failed, else copies ARCHIVE to
 *                 installed.a (`cp`, posix_spawnp): work after the archiver.
 *   no-archiver   posix_spawnp(true) instead of ar: no archiver at all.
 *
 * Like a big linker it holds HOST_TOUCH_MIB MiB (default 64, every page
 * written) when it spawns, and appends "host PID" to $HOST_PID_FILE if set.
 * It prints nothing itself (except in print-after): a host that prints
 * from an atexit handler is not final either.
 * Exit status: ar's (128+N if a signal N killed it); 3 if a spawn failed;
 * 2 on usage errors.
 */
#define _GNU_SOURCE
#include "host_common.h"
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

/* Written through a volatile pointer so the compiler keeps every page. */
static unsigned char *volatile ballast;

static char temp[] = "/tmp/verify_host.XXXXXX";

static void remove_temp(void)
{
	unlink(temp);
}

static void touch_memory(void)
{
	long mib = host_touch_mib(64);
	if (mib > 0)
		ballast = host_hold("verify_host", (size_t)mib << 20, mib);
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "verify_host: waitpid: %s\n", strerror(errno));
			return 3;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static int spawn_and_wait(const char *program, char **argv)
{
	pid_t pid;
	int rc = posix_spawnp(&pid, program, NULL, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "verify_host: spawn failed: %s\n", strerror(rc));
		return 3;
	}
	return wait_status(pid);
}

static int fork_and_wait(const char *program, char **argv)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "verify_host: fork: %s\n", strerror(errno));
		return 3;
	}
	if (pid == 0) {
		execvp(program, argv);
		_exit(127);
	}
	return wait_status(pid);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: verify_host final|fork|write-after|ranlib-after|print-after|install|no-archiver "
				"ARCHIVE OBJ...\n");
		return 2;
	}
	const char *mode = argv[1], *archive = argv[2];
	static const char *const modes[] = {"final", "fork", "write-after", "ranlib-after",
					    "print-after", "install", "no-archiver"};
	int known = 0;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		known |= strcmp(mode, modes[i]) == 0;
	if (!known) {
		fprintf(stderr, "verify_host: unknown mode %s\n", mode);
		return 2;
	}

	/* ar rcs ARCHIVE OBJ... */
	int nobjs = argc - 3;
	char **ar_argv = calloc((size_t)nobjs + 4, sizeof(char *));
	if (ar_argv == NULL)
		return 4;
	ar_argv[0] = "ar";
	ar_argv[1] = "rcs";
	ar_argv[2] = (char *)archive;
	for (int i = 0; i < nobjs; i++)
		ar_argv[3 + i] = argv[3 + i];

	/* A temp file of its own, deleted at exit (after the archiver): allowed. */
	int tfd = mkstemp(temp);
	if (tfd < 0) {
		fprintf(stderr, "verify_host: mkstemp: %s\n", strerror(errno));
		return 4;
	}
	close(tfd);
	atexit(remove_temp);

	host_record_pid("verify_host", "host");
	touch_memory();

	int status;
	if (strcmp(mode, "no-archiver") == 0) {
		char *true_argv[] = {"true", NULL};
		status = spawn_and_wait("true", true_argv);
	} else if (strcmp(mode, "fork") == 0) {
		status = fork_and_wait("ar", ar_argv);
	} else {
		status = spawn_and_wait("ar", ar_argv);
	}
	if (status != 0 && (strcmp(mode, "final") == 0 || strcmp(mode, "fork") == 0)) {
		/* Like ldc2: an error line after a failed archiver. */
		fprintf(stderr, "verify_host: ar failed\n");
	} else if (strcmp(mode, "write-after") == 0) {
		int fd = open("after.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, "done\n", 5) != 5)
			return 5;
		close(fd);
	} else if (strcmp(mode, "ranlib-after") == 0) {
		char *ranlib_argv[] = {"ranlib", (char *)archive, NULL};
		int rc = spawn_and_wait("ranlib", ranlib_argv);
		if (status == 0)
			status = rc;
	} else if (strcmp(mode, "print-after") == 0) {
		printf("host: archive written\n");
	} else if (strcmp(mode, "install") == 0) {
		/* Silent when ar failed; else installs the archive (work after ar). */
		if (status != 0)
			return 1;
		char *cp_argv[] = {"cp", (char *)archive, "installed.a", NULL};
		status = spawn_and_wait("cp", cp_argv);
	}
	return status;
}

/*
 * A "legacy linker" with temporaries, for the tests of what `arshim verify`
 * says about deletions after the archiver (tests/verify_temps.rs): it makes
 * a temp dir with files, runs `ar rcs ARCHIVE OBJ...` (posix_spawnp,
 * waitpid), and then removes its temporaries in its MAIN code (not in an
 * exit handler), as ghc and rustc do.
 *
 *   verify_temps_host MODE ARCHIVE OBJ...
 *
 * The temp dir is $VT_TMP/vthost.XXXXXX (mkdtemp; VT_TMP defaults to
 * /tmp), with a.o (open O_CREAT|O_EXCL), b.rsp (fopen "w") and c.s (open
 * O_CREAT|O_TRUNC of a new name) in it.
 *
 *   created  after ar: unlinks the three files, rmdirs the dir.
 *   foreign  the same, then unlinks $VT_TMP/foreign.tmp, a file that was
 *            there before the run (the test makes it): not the host's.
 *   kept     after ar: unlinks a.o and c.s only; b.rsp and the dir stay.
 *   sneaky   as created, but the dir is $VT_TMP/vthost.PID, and when
 *            converted (ARSHIM=1, as `arshim run` sets it) a child
 *            `mkdir` makes it: a command that behaves differently when
 *            converted, whose dir the conversion cannot know is its own.
 *
 * Exit status: ar's; 3 if a call failed; 2 on usage errors. Prints nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char dir[4096];

static void fail(const char *what)
{
	fprintf(stderr, "verify_temps_host: %s: %s\n", what, strerror(errno));
	exit(3);
}

static const char *tmp_base(void)
{
	const char *tmp = getenv("VT_TMP");
	return tmp && *tmp ? tmp : "/tmp";
}

/* DIR/NAME into `out`. */
static const char *in_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
	return out;
}

static void write_fd(int fd, const char *what)
{
	if (fd < 0)
		fail(what);
	if (write(fd, "temp\n", 5) != 5)
		fail("write");
	close(fd);
}

/* `mkdir DIR` in a child, waited for. */
static void child_mkdir(void)
{
	char *argv[] = {"mkdir", dir, NULL};
	pid_t pid;
	int st;
	errno = posix_spawnp(&pid, "mkdir", NULL, NULL, argv, environ);
	if (errno != 0)
		fail("posix_spawnp mkdir");
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		exit(3);
}

static void make_temps(int sneaky)
{
	char path[4200];
	const char *mode = getenv("ARSHIM");
	if (sneaky) {
		snprintf(dir, sizeof dir, "%s/vthost.%d", tmp_base(), (int)getpid());
		if (mode && strcmp(mode, "1") == 0)
			child_mkdir();
		else if (mkdir(dir, 0700) != 0)
			fail("mkdir");
	} else {
		snprintf(dir, sizeof dir, "%s/vthost.XXXXXX", tmp_base());
		if (!mkdtemp(dir))
			fail("mkdtemp");
	}
	write_fd(open(in_dir(path, sizeof path, "a.o"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
		 "open a.o");
	FILE *f = fopen(in_dir(path, sizeof path, "b.rsp"), "w");
	if (!f || fputs("-o lib.a\n", f) < 0 || fclose(f) != 0)
		fail("fopen b.rsp");
	write_fd(open(in_dir(path, sizeof path, "c.s"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
		 "open c.s");
}

static void remove_temp(const char *name)
{
	char path[4200];
	if (unlink(in_dir(path, sizeof path, name)) != 0)
		fail("unlink");
}

static int run_ar(char **archive_and_objs, int n)
{
	char *argv[64];
	int i;
	pid_t pid;
	int st;
	if (n + 3 > 64)
		exit(2);
	argv[0] = "ar";
	argv[1] = "rcs";
	for (i = 0; i < n; i++)
		argv[2 + i] = archive_and_objs[i];
	argv[2 + n] = NULL;
	errno = posix_spawnp(&pid, "ar", NULL, NULL, argv, environ);
	if (errno != 0)
		fail("posix_spawnp ar");
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	const char *mode;
	int rc;
	if (argc < 4) {
		fprintf(stderr, "usage: verify_temps_host created|foreign|kept|sneaky ARCHIVE OBJ...\n");
		return 2;
	}
	mode = argv[1];
	if (strcmp(mode, "created") != 0 && strcmp(mode, "foreign") != 0 && strcmp(mode, "kept") != 0
	    && strcmp(mode, "sneaky") != 0) {
		fprintf(stderr, "verify_temps_host: unknown mode %s\n", mode);
		return 2;
	}
	make_temps(strcmp(mode, "sneaky") == 0);
	rc = run_ar(argv + 2, argc - 2);
	/* The host's main code, after the archiver: what a conversion loses
	 * unless the reaper takes it over. */
	remove_temp("a.o");
	remove_temp("c.s");
	if (strcmp(mode, "kept") != 0) {
		remove_temp("b.rsp");
		if (rmdir(dir) != 0)
			fail("rmdir");
	}
	if (strcmp(mode, "foreign") == 0) {
		char foreign[4200];
		snprintf(foreign, sizeof foreign, "%s/foreign.tmp", tmp_base());
		if (unlink(foreign) != 0)
			fail("unlink foreign.tmp");
	}
	return rc;
}

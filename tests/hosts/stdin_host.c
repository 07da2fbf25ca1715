/*
 * A "legacy linker" that takes its work from stdin, for the tests of
 * `arshim verify` runs starting from the same state (tests/verify_state.rs).
 *
 *   stdin_host list ARCHIVE   reads object names (blank-separated) from
 *                             stdin, then posix_spawnp(`ar rcv ARCHIVE
 *                             OBJ...`), waits, exits with ar's status.
 *   stdin_host mri            posix_spawnp(`ar -M`) with the host's stdin
 *                             (an MRI script), waits, exits with ar's status.
 *   stdin_host touch-after ARCHIVE OBJ
 *                             posix_spawnp(`ar rc ARCHIVE OBJ`), waits, exits
 *                             with ar's status; an atexit handler appends "x"
 *                             to OBJ. Converted, the handler runs before ar:
 *                             the archive differs (NOT SAFE).
 *
 * Exit status: ar's (128+N if a signal N killed it); 3 if the spawn failed;
 * 2 on usage errors or unreadable input.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

#define MAX_OBJS 64

static int spawn_and_wait(char **argv)
{
	pid_t pid;
	int status;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return 3;
	if (waitpid(pid, &status, 0) < 0)
		return 3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *touched;

static void touch_input(void)
{
	FILE *f = fopen(touched, "a");
	if (f) {
		fputs("x", f);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	static char names[MAX_OBJS][256];
	char *ar_argv[MAX_OBJS + 4] = {"ar"};
	int n = 0;
	if (argc == 2 && strcmp(argv[1], "mri") == 0) {
		ar_argv[1] = "-M";
		return spawn_and_wait(ar_argv);
	}
	if (argc == 4 && strcmp(argv[1], "touch-after") == 0) {
		char *touch_argv[] = {"ar", "rc", argv[2], argv[3], NULL};
		touched = argv[3];
		atexit(touch_input);
		return spawn_and_wait(touch_argv);
	}
	if (argc != 3 || strcmp(argv[1], "list") != 0) {
		fprintf(stderr, "usage: stdin_host list ARCHIVE | mri | touch-after ARCHIVE OBJ\n");
		return 2;
	}
	ar_argv[1] = "rcv";
	ar_argv[2] = argv[2];
	while (n < MAX_OBJS && scanf("%255s", names[n]) == 1) {
		ar_argv[3 + n] = names[n];
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "stdin_host: no object names on stdin\n");
		return 2;
	}
	return spawn_and_wait(ar_argv);
}

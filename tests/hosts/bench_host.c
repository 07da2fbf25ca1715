/*
 * The host of the `arshim bench` test (tests/bench.rs): touches MIB MiB, then
 * posix_spawnp's `ar rcs ARCHIVE OBJ...`, waits and exits with its status.
 *
 *   bench_host MIB ARCHIVE OBJ...
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static unsigned char *volatile ballast;

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: host MIB ARCHIVE OBJ...\n");
		return 2;
	}
	size_t bytes = (size_t)atol(argv[1]) << 20;
	ballast = malloc(bytes);
	if (!ballast)
		return 4;
	long page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < bytes; i += page)
		ballast[i] = (unsigned char)i | 1;
	printf("host: touched %s MiB\n", argv[1]);

	char *args[64] = { "ar", "rcs" };
	int n = 2;
	for (int i = 2; i < argc && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	pid_t pid;
	int err = posix_spawnp(&pid, "ar", NULL, NULL, args, environ);
	if (err) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(err));
		return 3;
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return 5;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

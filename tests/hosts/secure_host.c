/*
 * A small host for the secure-execution test (tests/hardening.rs), installed
 * setuid root and run as an unprivileged user:
 *
 *   secure_host ARCHIVE OBJ...
 *
 * It says who it runs as ("ids: ruid=… euid=…"), the variables the library
 * sets when it acts ("env: NAME=VALUE", for each that is set), copies the
 * lines of /proc/self/maps that name an arshim library (`libarshim`) ("map: PATH", so the
 * test can tell which of the preload and the core the loader mapped), then
 * ends like
 * a legacy linker: posix_spawnp of `ar rcs ARCHIVE OBJ...`, wait, exit with
 * ar's status ("host: spawn failed: ERR" and 3 when the spawn fails).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void print_arshim_mappings(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	if (maps == NULL) {
		printf("map: cannot open /proc/self/maps: %s\n", strerror(errno));
		return;
	}
	char line[4096], last[4096] = "";
	while (fgets(line, sizeof line, maps) != NULL) {
		char *path = strchr(line, '/');
		if (path == NULL || strstr(path, "libarshim") == NULL || strcmp(path, last) == 0)
			continue;
		snprintf(last, sizeof last, "%s", path);
		printf("map: %s", path);
	}
	fclose(maps);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: secure_host ARCHIVE OBJ...\n");
		return 2;
	}
	printf("ids: ruid=%d euid=%d\n", (int)getuid(), (int)geteuid());
	const char *set_by_library[] = { "ARSHIM_PID", "ARSHIM_SPENT", "ARSHIM_WARNED" };
	for (size_t i = 0; i < sizeof set_by_library / sizeof *set_by_library; i++) {
		const char *value = getenv(set_by_library[i]);
		if (value != NULL)
			printf("env: %s=%s\n", set_by_library[i], value);
	}
	print_arshim_mappings();
	fflush(stdout);

	char *args[argc + 2];
	args[0] = "ar";
	args[1] = "rcs";
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	args[argc + 1] = NULL;
	pid_t pid;
	int err = posix_spawnp(&pid, "ar", NULL, NULL, args, environ);
	if (err != 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(err));
		return 3;
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return 3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * A "legacy linker" whose exit cleanups change what a spawned archiver would
 * start with, for tests/restore.rs (the capture and restore around the
 * host's cleanups, docs/DESIGN.md, "Conversion" 10).
 *
 *   restore_host CALL CLEANUP ARCHIVE OBJ...
 *
 *   CALL     spawnp  posix_spawnp("ar", ["ar", "rcsv", ARCHIVE, OBJ...])
 *            system  system("ar rcsv ARCHIVE OBJ...")
 *            fork    fork + execvp("ar", ...), then waitpid
 *   CLEANUP  what one atexit handler does (it runs at exit, or when the
 *            shim runs the host's cleanups):
 *            none      nothing
 *            chdir     chdir("/") (a linker leaving its temp dir)
 *            logfile   (spawnp) ar's stdout and stderr are adddup2'd from
 *                      the fd of log FILE* "ar.log", which the handler fcloses
 *            closestd  close(1) and close(2), as gnulib's close_stdout does
 *            closefrom (spawnp) addclosefrom_np(3) in the file actions; the
 *                      handler removes $HOST_TMP (holding the objects)
 *            rmtmp     the handler removes $HOST_TMP (holding the objects)
 *            umask     umask(077)
 *            signals   signal(SIGPIPE, SIG_IGN), signal(SIGINT, SIG_IGN) and
 *                      SIGUSR1 blocked
 *            openfd    opens "opened-at-exit" (created) without O_CLOEXEC
 *            reopenfd  the host holds "held" open with O_CLOEXEC from its
 *                      start; the handler closes it and opens
 *                      "opened-at-exit" without O_CLOEXEC, on the same number
 *   Several CLEANUPs may be joined with commas: "chdir,closestd".
 *
 * Before the spawn the host prints "host: spawning" (stdout, flushed: the
 * order of the lines is the same whenever the cleanups run). It exits with ar's status (128+N for a signal N; 3 if the
 * spawn call fails, printing "host: spawn failed: ERR").
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>

extern char **environ;

static const char *cleanups;
static FILE *logfile;
static int held = -1;

static int has(const char *what)
{
	size_t n = strlen(what);
	for (const char *p = cleanups; (p = strstr(p, what)) != NULL; p += n)
		if ((p == cleanups || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* $HOST_TMP and the files in it (one level). */
static void remove_tmp(void)
{
	const char *tmp = getenv("HOST_TMP");
	if (tmp == NULL || *tmp == '\0')
		return;
	DIR *d = opendir(tmp);
	if (d == NULL)
		return;
	int dfd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dfd, e->d_name, 0);
	closedir(d);
	rmdir(tmp);
}

static void at_exit(void)
{
	if (has("rmtmp") || has("closefrom"))
		remove_tmp();
	if (has("logfile") && logfile != NULL)
		fclose(logfile);
	if (has("umask"))
		umask(077);
	if (has("signals")) {
		signal(SIGPIPE, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		sigset_t usr1;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1, NULL);
	}
	if (has("reopenfd") && held >= 0 && close(held) != 0)
		perror("host: close held");
	if ((has("openfd") || has("reopenfd")) && open("opened-at-exit", O_WRONLY | O_CREAT, 0644) < 0)
		perror("host: opened-at-exit");
	if (has("chdir") && chdir("/") != 0)
		perror("host: chdir");
	if (has("closestd")) {
		close(1);
		close(2);
	}
}

static int spawn_ar(char **argv)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (has("logfile")) {
		logfile = fopen("ar.log", "w");
		if (logfile == NULL) {
			perror("host: ar.log");
			exit(4);
		}
		posix_spawn_file_actions_adddup2(&fa, fileno(logfile), 1);
		posix_spawn_file_actions_adddup2(&fa, fileno(logfile), 2);
	}
	if (has("closefrom"))
		posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int r = posix_spawnp(&pid, "ar", &fa, NULL, argv, environ);
	if (r != 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(r));
		exit(3);
	}
	return pid;
}

static int fork_ar(char **argv)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(errno));
		exit(3);
	}
	if (pid == 0) {
		execvp("ar", argv);
		_exit(127);
	}
	return pid;
}

static int system_ar(char **argv)
{
	size_t len = 1;
	for (char **a = argv; *a != NULL; a++)
		len += strlen(*a) + 1;
	char *cmd = calloc(len, 1);
	if (cmd == NULL)
		exit(4);
	for (char **a = argv; *a != NULL; a++) {
		if (a != argv)
			strcat(cmd, " ");
		strcat(cmd, *a);
	}
	int status = system(cmd);
	if (status == -1) {
		fprintf(stderr, "host: spawn failed: %s\n", strerror(errno));
		exit(3);
	}
	return host_exit_code(status);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: restore_host spawnp|system|fork CLEANUP ARCHIVE OBJ...\n");
		return 2;
	}
	host_record_pid("restore_host", "host");
	cleanups = argv[2];
	atexit(at_exit);
	if (has("reopenfd") &&
	    (held = open("held", O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		perror("host: held");
		return 4;
	}
	char **ar = host_archiver_argv("ar", argc - 3, argv + 3);
	ar[1] = "rcsv";
	printf("host: spawning\n");
	fflush(stdout);
	if (strcmp(argv[1], "system") == 0)
		return system_ar(ar);
	pid_t pid = strcmp(argv[1], "fork") == 0 ? fork_ar(ar) : spawn_ar(ar);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "host: waitpid failed: %s\n", strerror(errno));
			return 6;
		}
	return host_exit_code(status);
}

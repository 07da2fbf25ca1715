/*
 * A "legacy linker" for the `arshim verify` file tests (tests/verify_files.rs):
 * it ends by running `ar rcsv ARCHIVE OBJ...` (posix_spawnp, so ar prints
 * "a - OBJ" lines), and writes files in ways that no hook sees, or that a
 * conversion reorders:
 *
 *   files_host MODE ARCHIVE OBJ...
 *
 *   map-after   fopen("map.txt", "w") before ar; after ar ended, 300 lines
 *               by fprintf, then fclose, then exit: the stdio writes bypass
 *               every hook and the file is closed before exit.
 *   thread-map  another thread writes map.txt: 150 lines, then it waits
 *               until the main thread has spawned ar, then 150 more (1 ms
 *               apart), fclose; the main thread waits for ar, joins the
 *               thread, exits. Converted, the exec at the spawn ends the
 *               thread before its second half, whatever the timing.
 *   log-trunc   ar's stdout goes to build.log ($BUILD_LOG if set) through a
 *               spawn file action (O_WRONLY|O_CREAT|O_TRUNC); an atexit
 *               handler appends "done" to it. Converted, the handler runs
 *               before the exec and the replayed action truncates its line away.
 *   append-log  appends "linking ARCHIVE" to build.log (O_APPEND) before
 *               ar, nothing after: final. A log that grows with every run.
 *   pid-log     writes "linked by PID" to link.log (O_TRUNC) before ar,
 *               nothing after: final. The log differs from run to run,
 *               converted or not.
 *
 * Exit status: ar's (128+N if a signal N killed it); 3 if a spawn failed;
 * 2 on usage errors; 5 when a file of its own cannot be written.
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <pthread.h>
#include <spawn.h>

extern char **environ;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int spawned;

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "files_host: waitpid: %s\n", strerror(errno));
			return 3;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static void map_lines(FILE *map, int from, int to, int pause_us)
{
	for (int i = from; i < to; i++) {
		fprintf(map, "map line %d: symbol_%d at 0x%08x\n", i, i, (unsigned)i * 64u);
		fflush(map);
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
	}
}

static void *map_writer(void *arg)
{
	FILE *map = arg;
	map_lines(map, 0, 150, 0);
	pthread_mutex_lock(&lock);
	while (!spawned)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	map_lines(map, 150, 300, 1000);
	fclose(map);
	return NULL;
}

static const char *build_log(void)
{
	const char *log = getenv("BUILD_LOG");
	return log != NULL && *log != '\0' ? log : "build.log";
}

static void append_done(void)
{
	FILE *log = fopen(build_log(), "a");
	if (log != NULL) {
		fputs("done\n", log);
		fclose(log);
	}
}

static int spawn_ar(char **ar_argv, const posix_spawn_file_actions_t *actions, pid_t *pid)
{
	int rc = posix_spawnp(pid, "ar", actions, NULL, ar_argv, environ);
	if (rc != 0)
		fprintf(stderr, "files_host: spawn failed: %s\n", strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: files_host map-after|thread-map|log-trunc|append-log|pid-log ARCHIVE OBJ...\n");
		return 2;
	}
	const char *mode = argv[1], *archive = argv[2];
	int nobjs = argc - 3;
	char **ar_argv = calloc((size_t)nobjs + 4, sizeof(char *));
	if (ar_argv == NULL)
		return 4;
	ar_argv[0] = "ar";
	ar_argv[1] = "rcsv";
	ar_argv[2] = (char *)archive;
	for (int i = 0; i < nobjs; i++)
		ar_argv[3 + i] = argv[3 + i];

	FILE *map = NULL;
	pthread_t writer;
	posix_spawn_file_actions_t actions, *use_actions = NULL;
	if (strcmp(mode, "map-after") == 0 || strcmp(mode, "thread-map") == 0) {
		map = fopen("map.txt", "w");
		if (map == NULL)
			return 5;
		if (strcmp(mode, "thread-map") == 0 && pthread_create(&writer, NULL, map_writer, map) != 0)
			return 5;
	} else if (strcmp(mode, "log-trunc") == 0) {
		atexit(append_done);
		posix_spawn_file_actions_init(&actions);
		posix_spawn_file_actions_addopen(&actions, 1, build_log(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		use_actions = &actions;
	} else if (strcmp(mode, "append-log") == 0 || strcmp(mode, "pid-log") == 0) {
		int append = strcmp(mode, "append-log") == 0;
		int fd = open(append ? "build.log" : "link.log",
			      O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
		if (fd < 0 || (append ? dprintf(fd, "linking %s\n", archive)
				      : dprintf(fd, "linked by %ld\n", (long)getpid())) < 0)
			return 5;
		close(fd);
	} else {
		fprintf(stderr, "files_host: unknown mode %s\n", mode);
		return 2;
	}

	pid_t pid;
	if (spawn_ar(ar_argv, use_actions, &pid) != 0)
		return 3;
	if (strcmp(mode, "thread-map") == 0) {
		pthread_mutex_lock(&lock);
		spawned = 1;
		pthread_cond_signal(&cond);
		pthread_mutex_unlock(&lock);
	}
	int status = wait_status(pid);
	if (strcmp(mode, "map-after") == 0) {
		map_lines(map, 0, 300, 0);
		fclose(map);
	} else if (strcmp(mode, "thread-map") == 0) {
		pthread_join(writer, NULL);
	}
	return status;
}

/*
 * A "legacy linker" that reads its archiver's output and acts on it after
 * the archiver ended, for tests/captured_output.rs (docs/DESIGN.md,
 * "Conversion" 2: a captured output is not handed off at the wait).
 *
 *   capture_host MODE AR ARCHIVE OBJ...
 *
 *   MODE  pipes    fork + execv(AR rcsv ARCHIVE OBJ...) with the child's
 *                  stdout and stderr on two pipes; reads both to EOF
 *                  (poll), and only then waitpid()s, as rustc does.
 *         popen    popen("AR rcsv ARCHIVE OBJ... 2>&1", "r"), reads to EOF,
 *                  then pclose() (its wait is inside the C library).
 *         wait-first  fork + execv with the two pipes, but waitpid()s first
 *                  and reads the pipes after (ar's output fits in them).
 *         raw-wait-first  the same with a raw execve system call: no exec
 *                  record, the library looks at /proc.
 *         inherit  fork + execv: AR writes to the host's own stdout and
 *                  stderr; waitpid, then exits with AR's status.
 *
 * pipes, popen and the wait-first modes, once the archiver was waited for: on a non-zero status
 * prints "ar failed: status N" and what it read (pipes: ar's stderr), and
 * exits 3; else prints what it read (pipes: ar's stdout) and exits 0.
 *
 * Holds HOST_TOUCH_MIB (default 64) MiB, every page written, and appends
 * "host PID" to $HOST_PID_FILE.
 */
#define _GNU_SOURCE
#include "host_common.h"
#include <poll.h>
#include <sys/syscall.h>

extern char **environ;
static int raw_exec; /* raw-wait-first */

#define OUT_MAX (64 * 1024)

struct captured {
	char text[OUT_MAX];
	size_t len;
};

/* Appends what fd has now to c; 0 at EOF (or an error), 1 otherwise. */
static int drain(int fd, struct captured *c)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	size_t room = OUT_MAX - c->len;
	size_t take = (size_t)n < room ? (size_t)n : room;
	memcpy(c->text + c->len, buf, take);
	c->len += take;
	return 1;
}

static pid_t start(char **argv, int out, int err)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "capture_host: fork failed: %s\n", strerror(errno));
		exit(4);
	}
	if (pid == 0) {
		if (out >= 0 && (dup2(out, 1) < 0 || dup2(err, 2) < 0))
			_exit(126);
		if (raw_exec)
			syscall(SYS_execve, argv[0], argv, environ);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_for(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "capture_host: waitpid: %s\n", strerror(errno));
			exit(4);
		}
	}
	return host_exit_code(status);
}

/* What the host does with the output it read: `failed` shown on a failure,
 * `done` on success. */
static int report(int code, const struct captured *done, const struct captured *failed)
{
	if (code != 0) {
		printf("ar failed: status %d\n", code);
		fwrite(failed->text, 1, failed->len, stdout);
		return 3;
	}
	fwrite(done->text, 1, done->len, stdout);
	return 0;
}

/* Starts ar with its stdout and stderr on two new pipes; their read ends
 * in *out and *err. */
static pid_t start_piped(char **argv, int *out, int *err)
{
	int o[2], e[2];
	if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
		fprintf(stderr, "capture_host: pipe failed: %s\n", strerror(errno));
		exit(4);
	}
	pid_t pid = start(argv, o[1], e[1]);
	close(o[1]);
	close(e[1]);
	*out = o[0];
	*err = e[0];
	return pid;
}

static int pipes(char **argv)
{
	static struct captured out, err;
	int o, e;
	pid_t pid = start_piped(argv, &o, &e);
	struct pollfd p[2] = {{o, POLLIN, 0}, {e, POLLIN, 0}};
	struct captured *into[2] = {&out, &err};
	int open_ends = 2;
	while (open_ends > 0) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			exit(4);
		for (int i = 0; i < 2; i++) {
			if (p[i].fd >= 0 && p[i].revents != 0 && !drain(p[i].fd, into[i])) {
				close(p[i].fd);
				p[i].fd = -1;
				open_ends--;
			}
		}
	}
	return report(wait_for(pid), &out, &err);
}

/* Waits for ar first, then reads what it left in the pipes. */
static int wait_first(char **argv)
{
	static struct captured out, err;
	int o, e;
	pid_t pid = start_piped(argv, &o, &e);
	int code = wait_for(pid);
	while (drain(o, &out))
		;
	while (drain(e, &err))
		;
	return report(code, &out, &err);
}

static int via_popen(char **argv)
{
	static struct captured out;
	char command[8192] = "";
	for (char **a = argv; *a != NULL; a++) {
		strncat(command, *a, sizeof command - strlen(command) - 1);
		strncat(command, " ", sizeof command - strlen(command) - 1);
	}
	strncat(command, "2>&1", sizeof command - strlen(command) - 1);
	FILE *f = popen(command, "r");
	if (f == NULL) {
		fprintf(stderr, "capture_host: popen failed: %s\n", strerror(errno));
		exit(4);
	}
	while (drain(fileno(f), &out))
		;
	int status = pclose(f);
	if (status < 0) {
		fprintf(stderr, "capture_host: pclose: %s\n", strerror(errno));
		exit(4);
	}
	return report(host_exit_code(status), &out, &out);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: capture_host pipes|popen|wait-first|raw-wait-first|inherit AR ARCHIVE OBJ...\n");
		return 2;
	}
	long mib = host_touch_mib(64);
	unsigned char *ballast = host_hold("capture_host", (size_t)mib << 20, mib);
	host_record_pid("capture_host", "host");
	char **ar = calloc((size_t)argc, sizeof(char *));
	if (ar == NULL)
		return 4;
	ar[0] = argv[2];
	ar[1] = "rcsv";
	for (int i = 3; i < argc; i++)
		ar[i - 1] = argv[i];
	int code;
	if (strcmp(argv[1], "pipes") == 0)
		code = pipes(ar);
	else if (strcmp(argv[1], "popen") == 0)
		code = via_popen(ar);
	else if (strcmp(argv[1], "wait-first") == 0)
		code = wait_first(ar);
	else if (strcmp(argv[1], "raw-wait-first") == 0) {
		raw_exec = 1;
		code = wait_first(ar);
	} else if (strcmp(argv[1], "inherit") == 0)
		code = wait_for(start(ar, -1, -1));
	else {
		fprintf(stderr, "capture_host: unknown mode %s\n", argv[1]);
		return 2;
	}
	ballast[0] ^= 1; /* still held here */
	return code;
}

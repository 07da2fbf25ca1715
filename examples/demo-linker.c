/*
 * demo-linker — a stand-in "legacy linker" for the arshim demo.
 *
 *   demo-linker [-m MiB] -o OUT/libdemo.a a.o b.o ...
 *
 * It behaves like the big linkers arshim is made for:
 *   1. it holds a lot of memory (MiB from -m, else $DEMO_MIB, else 1024),
 *      every page touched so that it is really resident;
 *   2. it "writes object files": copies each input .o to OUT/obj/;
 *   3. it has pending cleanups: an atexit handler and a printf line that is
 *      still sitting in the stdio buffer (never flushed by hand);
 *   4. its very last act is posix_spawnp("ar", "rcs", OUT/libdemo.a, OUT/obj/NAME.o...),
 *      waitpid, and exit with ar's status.
 *
 * With $DEMO_SPAWN_STAMP set to a file, it writes CLOCK_MONOTONIC (ns) there
 * just before the spawn call: benches/run.sh times the rest of the run, the
 * part the shim changes, apart from the page faults of step 1.
 *
 * It exports DEMO_LINKER_PID=<its pid> so that the stand-in archiver
 * (examples/bin/ar) can tell whether it runs as the linker's own pid
 * (converted by arshim) or as a child of the linker (the usual spawn).
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
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The memory the linker "works with". Global so the compiler cannot drop it. */
static unsigned char *volatile g_hold;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "demo-linker: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: demo-linker [-m MiB] -o OUT/libNAME.a INPUT.o...\n"
			"       (MiB defaults to $DEMO_MIB, else 1024)\n");
	exit(2);
}

static void atexit_cleanup(void)
{
	printf("demo-linker: atexit cleanup ran\n");
}

static unsigned long parse_mib(const char *s, const char *from)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || v == 0 || v > (1UL << 20)) {
		fprintf(stderr, "demo-linker: bad memory size '%s' (from %s): want MiB, 1..1048576\n", s,
			from);
		exit(2);
	}
	return v;
}

static void copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("cannot open input", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		die("cannot create", dst);
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("cannot read", src);
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("cannot write", dst);
			}
			off += w;
		}
	}
	if (close(out) != 0)
		die("cannot close", dst);
	close(in);
}

/* malloc'd "a/b"; exits on failure. */
static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + 1 + strlen(b) + 1;
	char *p = malloc(n);
	if (!p)
		die("out of memory", NULL);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static void mkdir_if_missing(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("cannot create directory", dir);
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	unsigned long mib = 1024;
	const char *env_mib = getenv("DEMO_MIB");
	if (env_mib && *env_mib)
		mib = parse_mib(env_mib, "DEMO_MIB");

	int opt;
	while ((opt = getopt(argc, argv, "m:o:")) != -1) {
		switch (opt) {
		case 'm': mib = parse_mib(optarg, "-m"); break;
		case 'o': out = optarg; break;
		default: usage();
		}
	}
	if (!out || optind >= argc)
		usage();
	int nobj = argc - optind;

	/* 1. Hold the memory, every page resident. */
	size_t size = (size_t)mib << 20;
	g_hold = malloc(size);
	if (!g_hold) {
		fprintf(stderr, "demo-linker: cannot allocate %lu MiB\n", mib);
		return 1;
	}
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	for (size_t off = 0; off < size; off += (size_t)page)
		g_hold[off] = (unsigned char)(off >> 12 | 1);

	/* 2. "Write" the object files: OUT_DIR/obj/NAME.o */
	const char *slash = strrchr(out, '/');
	char *outdir = slash == out ? strdup("/") : slash ? strndup(out, (size_t)(slash - out)) : strdup(".");
	if (!outdir)
		die("out of memory", NULL);
	mkdir_if_missing(outdir);
	char *objdir = path_join(outdir, "obj");
	mkdir_if_missing(objdir);

	/* argv for: ar rcs OUT OUT_DIR/obj/a.o OUT_DIR/obj/b.o ... */
	char **ar_argv = calloc((size_t)nobj + 4, sizeof *ar_argv);
	if (!ar_argv)
		die("out of memory", NULL);
	ar_argv[0] = "ar";
	ar_argv[1] = "rcs";
	ar_argv[2] = (char *)out;
	for (int i = 0; i < nobj; i++) {
		const char *in = argv[optind + i];
		const char *base = strrchr(in, '/');
		base = base ? base + 1 : in;
		char *dst = path_join(objdir, base);
		copy_file(in, dst);
		ar_argv[3 + i] = dst;
	}
	if (unlink(out) != 0 && errno != ENOENT) /* a fresh archive, like a real linker */
		die("cannot remove old", out);

	/* 3. Pending cleanups: an exit handler and an unflushed stdio line. */
	if (atexit(atexit_cleanup) != 0) {
		fprintf(stderr, "demo-linker: atexit failed\n");
		return 1;
	}
	printf("demo-linker: linked %d objects, holding %lu MiB\n", nobj, mib);

	char pidbuf[32];
	snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
	if (setenv("DEMO_LINKER_PID", pidbuf, 1) != 0)
		die("setenv DEMO_LINKER_PID", NULL);

	const char *stamp = getenv("DEMO_SPAWN_STAMP");
	if (stamp && *stamp) {
		FILE *f = fopen(stamp, "w");
		struct timespec ts;
		if (!f || clock_gettime(CLOCK_MONOTONIC, &ts) != 0 ||
		    fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec) < 0 || fclose(f) != 0)
			die("cannot write", stamp);
	}

	/* 4. The very last act: run the archiver, wait, exit with its status. */
	pid_t pid;
	int err = posix_spawnp(&pid, "ar", NULL, NULL, ar_argv, environ);
	if (err != 0) {
		fprintf(stderr, "demo-linker: cannot run ar: %s\n", strerror(err));
		exit(1);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid", NULL);
	}
	if (WIFEXITED(status))
		exit(WEXITSTATUS(status));
	fprintf(stderr, "demo-linker: ar killed by signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	exit(1);
}

/*
 * spawnloop — the load-cost measurement (README, "Performance"; goal 1 of
 * benches/run.sh): the per-process cost of a preload.
 *
 *   spawnloop N ROUNDS TARGET EMPTY_SO SHIM_SO
 *
 * Spawns TARGET (e.g. /bin/true) N times per block with posix_spawn + wait4,
 * in five environments, interleaved (one block of each per round, the order
 * rotated every round so no configuration always runs first):
 *   none      no LD_PRELOAD
 *   empty     LD_PRELOAD=EMPTY_SO   (an empty C shared library)
 *   shim_off  LD_PRELOAD=SHIM_SO    (ARSHIM unset: off)
 *   shim_oos  LD_PRELOAD=SHIM_SO ARSHIM=1 ARSHIM_PID=1  (on, out of scope)
 *   shim_hosts LD_PRELOAD=SHIM_SO ARSHIM=1 ARSHIM_HOSTS=no-such-host
 *             (on, out of scope, but only the core can tell: it is loaded)
 * The spawner itself is not preloaded: only the children's environment differs.
 * Prints three lines per configuration (the blocks of one round ran back to
 * back: compare within a round):
 *   wall NAME us_per_proc_round1 us_per_proc_round2 ...    (elapsed)
 *   cpu NAME us_per_proc_round1 ...   (the children's user+system CPU, wait4)
 *   minflt NAME minor_faults_per_proc
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NCONF 5
static const char *names[NCONF] = {"none", "empty", "shim_off", "shim_oos", "shim_hosts"};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* environ without LD_PRELOAD, LD_DEBUG* and ARSHIM*, plus up to 3 extra entries. */
static char **make_env(const char *e1, const char *e2, const char *e3)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (!strncmp(e, "LD_PRELOAD=", 11) || !strncmp(e, "LD_DEBUG", 8) || !strncmp(e, "ARSHIM", 6))
			continue;
		env[k++] = (char *)e;
	}
	if (e1)
		env[k++] = (char *)e1;
	if (e2)
		env[k++] = (char *)e2;
	if (e3)
		env[k++] = (char *)e3;
	env[k] = NULL;
	return env;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: spawnloop N ROUNDS TARGET EMPTY_SO SHIM_SO\n");
		return 2;
	}
	long n = atol(argv[1]), rounds = atol(argv[2]);
	const char *target = argv[3];
	if (n <= 0 || rounds <= 0)
		return 2;
	char *pre_empty, *pre_shim;
	if (asprintf(&pre_empty, "LD_PRELOAD=%s", argv[4]) < 0 || asprintf(&pre_shim, "LD_PRELOAD=%s", argv[5]) < 0)
		return 1;
	char **envs[NCONF] = {
		make_env(NULL, NULL, NULL),
		make_env(pre_empty, NULL, NULL),
		make_env(pre_shim, NULL, NULL),
		make_env(pre_shim, "ARSHIM=1", "ARSHIM_PID=1"),
		make_env(pre_shim, "ARSHIM=1", "ARSHIM_HOSTS=no-such-host"),
	};
	char *cargv[] = {(char *)target, NULL};
	long minflt[NCONF] = {0};
	double *blocks[NCONF], *cblocks[NCONF];
	for (int c = 0; c < NCONF; c++) {
		blocks[c] = calloc((size_t)rounds, sizeof(double));
		cblocks[c] = calloc((size_t)rounds, sizeof(double));
	}

	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < NCONF; k++) {
			int c = (int)((r + k) % NCONF);
			double t0 = now_us(), cpu = 0;
			for (long i = 0; i < n; i++) {
				pid_t pid;
				int err = posix_spawn(&pid, target, NULL, NULL, cargv, envs[c]);
				if (err) {
					fprintf(stderr, "spawnloop: posix_spawn %s: %s\n", target, strerror(err));
					return 1;
				}
				int st;
				struct rusage ru;
				while (wait4(pid, &st, 0, &ru) < 0) {
					if (errno != EINTR) {
						perror("spawnloop: wait4");
						return 1;
					}
				}
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
					fprintf(stderr, "spawnloop: %s failed (config %s, status %#x)\n", target, names[c], st);
					return 1;
				}
				minflt[c] += ru.ru_minflt;
				cpu += ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
					  ru.ru_stime.tv_usec;
			}
			blocks[c][r] = (now_us() - t0) / n;
			cblocks[c][r] = cpu / n;
		}
	}
	for (int c = 0; c < NCONF; c++) {
		printf("wall %s", names[c]);
		for (long r = 0; r < rounds; r++)
			printf(" %.2f", blocks[c][r]);
		printf("\ncpu %s", names[c]);
		for (long r = 0; r < rounds; r++)
			printf(" %.2f", cblocks[c][r]);
		printf("\nminflt %s %.1f\n", names[c], (double)minflt[c] / (n * rounds));
	}
	return 0;
}

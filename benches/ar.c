/*
 * ar — for the conversion measurement (README, "Performance"; goal 3 of
 * benches/run.sh): a stand-in archiver that timestamps its own start.
 * Built static (cc -static): no loader, no preload; it is named `ar` so the
 * shim's default ARSHIM_TOOLS globs take it for the archiver.
 *
 *   ar rc T0_NS REPORT poll|nopoll
 *
 * Its first act reads CLOCK_MONOTONIC; start_ns = now - T0_NS (T0_NS: the
 * host's timestamp right before its spawn call). Then it records whose memory
 * is still held: its own VmRSS and its parent's. With `poll` (fork-based
 * spawn), it polls /proc/PPID/status until the parent's VmRSS drops below
 * 20 MiB (the host's execve switched to the reaper's image) or 5 s pass,
 * and records when (drop_ns). VmRSS drops when execve switches images; the
 * old image is torn down right after, still inside the host's execve. So it
 * goes on polling until the parent's VmRSS grows again: the new image runs,
 * the old one is gone (run_ns; -1 if not seen within 10 s). MemFree cannot
 * tell: recent kernels keep freed pages on per-cpu lists for a while.
 * Polls every ~50 us (a tight loop could end up holding the last reference
 * to the host's old mm, and tear it down itself).
 * Writes one line to REPORT:
 *   start_ns=N pid=P ppid=Q self_rss_kib=K parent_rss_kib=K drop_ns=ABS|-1
 *   drop_rss_kib=K run_ns=ABS|-1 reaper_rss_kib=K (the parent's VmRSS 20 ms after run_ns)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* VmRSS of /proc/PID/status in KiB, -1 if unreadable. */
static long rss_kib(const char *pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%s/status", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strstr(buf, "\nVmRSS:");
	return p ? atol(p + 7) : 0; /* no VmRSS line: a zombie, nothing held */
}

static void pause_50us(void)
{
	struct timespec ts = {0, 50000};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	long long t1 = now_ns();
	if (argc != 5 || strcmp(argv[1], "rc"))
		return 2;
	long long start = t1 - atoll(argv[2]);
	char ppid[32];
	snprintf(ppid, sizeof ppid, "%d", (int)getppid());
	long self = rss_kib("self"), parent = rss_kib(ppid);
	long long drop = -1;
	long drop_rss = -1;
	long long run = -1;
	long reaper_rss = -1;
	if (!strcmp(argv[4], "poll")) {
		long long deadline = t1 + 5000000000LL;
		for (;;) {
			long r = rss_kib(ppid);
			long long t = now_ns();
			if (r >= 0 && r < 20 * 1024) {
				drop = t;
				drop_rss = r;
				break;
			}
			if (r < 0 || t > deadline)
				break;
			pause_50us();
		}
		while (drop >= 0) {
			long r = rss_kib(ppid);
			long long t = now_ns();
			if (r > drop_rss) {
				run = t;
				/* what the reaper holds once it runs: after 20 ms */
				struct timespec ts = {0, 20000000};
				nanosleep(&ts, NULL);
				reaper_rss = rss_kib(ppid);
				break;
			}
			if (r < 0 || t > drop + 10000000000LL)
				break;
			pause_50us();
		}
	}
	FILE *f = fopen(argv[3], "w");
	if (!f)
		return 1;
	fprintf(f, "start_ns=%lld pid=%d ppid=%s self_rss_kib=%ld parent_rss_kib=%ld drop_ns=%lld drop_rss_kib=%ld run_ns=%lld reaper_rss_kib=%ld\n",
		start, (int)getpid(), ppid, self, parent, drop, drop_rss, run, reaper_rss);
	return fclose(f) ? 1 : 0;
}

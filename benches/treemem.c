/*
 * treemem — for the end-to-end measurement (README, "Performance"; goal 4 of
 * benches/run.sh): the memory of a whole process tree over time, and what it
 * holds while the archiver runs.
 *
 *   treemem HZ OUT -- CMD [ARGS...]
 *
 * Runs CMD (fork + execvp) and samples, HZ times a second, every process of
 * its tree: /proc is listed each sample, each new pid's parent read once, and
 * each tree member's /proc/PID/stat (comm, ppid, rss) read every sample.
 * Never ru_maxrss: Linux keeps it across execve, so it would still show the
 * host's peak after a conversion.
 * "ar" = a tree process whose comm is `ar`, with its descendants (the stand-in
 * archiver's own helpers). While one runs, each sample compares the whole
 * tree's RSS with the ar processes' RSS; the excess is what everything else
 * (the host) still holds.
 * Writes one line to the file OUT after CMD ended:
 *   wall_ns=N status=S samples=N peak_tree_kib=K ar_samples=N ar_tree_kib=K ar_own_kib=K ar_excess_kib=K
 * (the three ar_* values are maxima over the samples taken while ar ran).
 * CMD's stdout/stderr are its own; treemem's exit status is CMD's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXPID (1 << 22)

/* Per pid: 0 unknown, 1 not in the tree, 2 in the tree. */
static unsigned char *mark;
static long page_kib;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct proc {
	int pid, ppid;
	long rss_kib;
	char comm[32];
};

/* Reads /proc/PID/stat: 0 on success. */
static int read_stat(int pid, struct proc *p)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r)
		return -1;
	size_t cl = (size_t)(r - l - 1);
	if (cl >= sizeof p->comm)
		cl = sizeof p->comm - 1;
	memcpy(p->comm, l + 1, cl);
	p->comm[cl] = '\0';
	/* after ") ": state(3) ppid(4) ... rss is field 24 */
	char *s = r + 2;
	int field = 3;
	long ppid = -1, rss = 0;
	char *tok = strtok(s, " ");
	while (tok) {
		if (field == 4)
			ppid = atol(tok);
		if (field == 24) {
			rss = atol(tok);
			break;
		}
		field++;
		tok = strtok(NULL, " ");
	}
	p->pid = pid;
	p->ppid = (int)ppid;
	p->rss_kib = rss * page_kib;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: treemem HZ OUT -- CMD [ARGS...]\n");
		return 2;
	}
	long hz = atol(argv[1]);
	if (hz <= 0)
		return 2;
	page_kib = sysconf(_SC_PAGESIZE) / 1024;
	mark = calloc(MAXPID, 1);
	static struct proc tree[4096];
	/* Everything that exists now is not in the tree. */
	DIR *d = opendir("/proc");
	if (!d)
		return 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 0 && pid < MAXPID)
			mark[pid] = 1;
	}

	long long t0 = now_ns();
	pid_t root = fork();
	if (root < 0)
		return 1;
	if (root == 0) {
		closedir(d);
		execvp(argv[4], argv + 4);
		fprintf(stderr, "treemem: cannot run %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	mark[root] = 2;
	long long period = 1000000000LL / hz, next = now_ns();
	long samples = 0, ar_samples = 0, peak = 0, ar_tree = 0, ar_own = 0, ar_excess = 0;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(root, &status, WNOHANG);
		if (w == root)
			break;
		/* New pids: in the tree iff their parent is. Several passes for chains. */
		rewinddir(d);
		static int fresh[4096];
		int nfresh = 0;
		while ((e = readdir(d))) {
			int pid = atoi(e->d_name);
			if (pid > 0 && pid < MAXPID && !mark[pid] && nfresh < 4096)
				fresh[nfresh++] = pid;
		}
		struct proc p;
		int progress = 1;
		while (progress) {
			progress = 0;
			for (int i = 0; i < nfresh; i++) {
				if (!fresh[i] || read_stat(fresh[i], &p) != 0)
					continue;
				if (p.ppid > 0 && p.ppid < MAXPID && mark[p.ppid] == 2) {
					mark[fresh[i]] = 2;
					fresh[i] = 0;
					progress = 1;
				}
			}
		}
		for (int i = 0; i < nfresh; i++)
			if (fresh[i])
				mark[fresh[i]] = 1;
		/* The tree: the root and every marked pid still alive. */
		int nt = 0;
		rewinddir(d);
		while ((e = readdir(d)) && nt < 4096) {
			int pid = atoi(e->d_name);
			if (pid > 0 && pid < MAXPID && mark[pid] == 2 && read_stat(pid, &tree[nt]) == 0)
				nt++;
		}
		long total = 0, ar = 0;
		int any_ar = 0;
		for (int i = 0; i < nt; i++) {
			total += tree[i].rss_kib;
			/* in the ar subtree? walk up through tree members */
			int in_ar = 0, cur = i, hops = 0;
			while (cur >= 0 && hops++ < 64) {
				if (!strcmp(tree[cur].comm, "ar")) {
					in_ar = 1;
					break;
				}
				int parent = tree[cur].ppid, next_i = -1;
				for (int j = 0; j < nt; j++)
					if (tree[j].pid == parent)
						next_i = j;
				cur = next_i;
			}
			if (in_ar) {
				ar += tree[i].rss_kib;
				any_ar = 1;
			}
		}
		samples++;
		if (total > peak)
			peak = total;
		if (any_ar) {
			ar_samples++;
			if (total > ar_tree)
				ar_tree = total;
			if (ar > ar_own)
				ar_own = ar;
			if (total - ar > ar_excess)
				ar_excess = total - ar;
		}
		next += period;
		long long now = now_ns();
		if (next > now) {
			struct timespec ts = {(time_t)((next - now) / 1000000000LL), (long)((next - now) % 1000000000LL)};
			nanosleep(&ts, NULL);
		} else {
			next = now;
		}
	}
	long long end = now_ns(), wall = end - t0;
	FILE *out = fopen(argv[2], "w");
	if (!out) {
		fprintf(stderr, "treemem: cannot write %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	fprintf(out, "wall_ns=%lld end_mono_ns=%lld status=%d samples=%ld peak_tree_kib=%ld ar_samples=%ld ar_tree_kib=%ld ar_own_kib=%ld ar_excess_kib=%ld\n",
	       wall, end, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), samples, peak, ar_samples, ar_tree,
	       ar_own, ar_excess);
	if (fclose(out) != 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

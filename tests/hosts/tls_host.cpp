/*
 * A C++ "legacy linker" whose main thread has a `thread_local` object
 * whose destructor writes tls.txt (tests/verify_after.rs): `exit` runs it
 * (glibc's __call_tls_dtors) before the atexit handlers.
 *
 *   tls_host ARCHIVE OBJ...
 *
 * posix_spawnp(`ar rcs ARCHIVE OBJ...`), waitpid, returns ar's status.
 */
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <spawn.h>
#include <sys/wait.h>
#include <vector>

extern char **environ;

struct Stamp {
	bool armed = false;
	~Stamp()
	{
		if (!armed)
			return;
		if (FILE *f = std::fopen("tls.txt", "w")) {
			std::fputs("thread_local destructor ran\n", f);
			std::fclose(f);
		}
	}
};

static thread_local Stamp stamp;

int main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: tls_host ARCHIVE OBJ...\n");
		return 2;
	}
	stamp.armed = true;
	std::vector<char *> args{const_cast<char *>("ar"), const_cast<char *>("rcs")};
	for (int i = 1; i < argc; i++)
		args.push_back(argv[i]);
	args.push_back(nullptr);
	pid_t pid;
	int rc = posix_spawnp(&pid, "ar", nullptr, nullptr, args.data(), environ);
	if (rc != 0) {
		std::fprintf(stderr, "tls_host: spawn failed: %s\n", std::strerror(rc));
		return 3;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 3;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

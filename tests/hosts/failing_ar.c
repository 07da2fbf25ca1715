/*
 * A failing stand-in archiver, ELF (tests/real_hosts.rs compiles it and
 * installs it under the name of the host's archiver), the twin of
 * failing_ar.sh: says so on stderr, works a little (so that a host that
 * waits for it finds it still running, as it would a real ar), exits 3.
 * ELF because a host that feeds the archiver's stdin (ghc) is converted
 * only for an ELF archiver: a script might read that stdin.
 */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	fprintf(stderr, "failing stand-in %s ran:", argv[0]);
	for (int i = 1; i < argc; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	usleep(300 * 1000);
	return 3;
}

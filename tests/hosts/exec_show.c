/*
 * exec_show — what an exec'd program sees (tests/exec_family.rs): its
 * arguments (the long one by its length) and $EXEC_MARK, one per line on
 * stdout; exits 7, so a run that reached it is told from one that did not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strlen(argv[i]) > 64)
			printf("argv[%d]=<%zu bytes>\n", i, strlen(argv[i]));
		else
			printf("argv[%d]=%s\n", i, argv[i]);
	}
	const char *mark = getenv("EXEC_MARK");
	printf("EXEC_MARK=%s\n", mark ? mark : "(unset)");
	return 7;
}

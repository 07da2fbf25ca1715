/* packer OUT.a MANIFEST OBJ... — a build tool of this project that is NOT a
 * final archiver host: it spawns `ar rcs OUT.a OBJ...` (posix_spawnp), waits,
 * and only then does its real work: writes MANIFEST (each member and its
 * size) and prints a summary. If anything turned its ar spawn into an exec,
 * the manifest would be missing and the build would fail. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: packer OUT.a MANIFEST OBJ...\n");
        return 2;
    }
    char **av = calloc((size_t)argc + 2, sizeof *av);
    if (!av)
        return 2;
    int k = 0;
    av[k++] = "ar";
    av[k++] = "rcs";
    av[k++] = argv[1];
    for (int i = 3; i < argc; i++)
        av[k++] = argv[i];
    av[k] = NULL;
    pid_t pid;
    int rc = posix_spawnp(&pid, "ar", NULL, NULL, av, environ);
    if (rc != 0) {
        fprintf(stderr, "packer: cannot spawn ar: %s\n", strerror(rc));
        return 1;
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "packer: ar failed\n");
        return 1;
    }
    FILE *m = fopen(argv[2], "w");
    if (!m) {
        perror(argv[2]);
        return 1;
    }
    struct stat sb;
    if (stat(argv[1], &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    fprintf(m, "archive %s\n", argv[1]);
    for (int i = 3; i < argc; i++) {
        struct stat ob;
        if (stat(argv[i], &ob) != 0) {
            perror(argv[i]);
            return 1;
        }
        fprintf(m, "member %s %lld\n", argv[i], (long long)ob.st_size);
    }
    if (fclose(m) != 0) {
        perror(argv[2]);
        return 1;
    }
    printf("packer: %d members into %s\n", argc - 3, argv[1]);
    return 0;
}

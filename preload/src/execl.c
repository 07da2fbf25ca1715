/*
 * The variadic members of the exec family, which Rust cannot define on
 * stable: execl, execlp and execle, as glibc defines them (posix/execl.c,
 * execlp.c, execle.c), each handing its vector to our own trampoline of the
 * vector form so that the core sees the call (docs/DESIGN.md, "Conversion" 2).
 *
 * The exported names are Rust's (preload/src/execl.rs: a jump here, since a
 * cdylib exports only Rust's symbols); these are hidden. The vector is built
 * on the stack, never the heap: these run between fork or vfork and exec,
 * and in signal handlers (POSIX lists execl and execle as
 * async-signal-safe). No import beyond what the preload already has: errno
 * (__errno_location) and environ.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* The preload's own vector-form trampolines (preload/src/execl.rs), called
 * directly: hidden here, so no symbol is looked up at load for them. */
HIDDEN int arshim_preload_execv(const char *path, char *const argv[]);
HIDDEN int arshim_preload_execvp(const char *file, char *const argv[]);
HIDDEN int arshim_preload_execve(const char *path, char *const argv[], char *const envp[]);

/*
 * How many arguments follow `arg` up to the terminating NULL, plus one for
 * `arg` itself; -1 with errno E2BIG past INT_MAX, as glibc.
 */
static ptrdiff_t count_args(va_list ap)
{
	ptrdiff_t argc;
	for (argc = 1; va_arg(ap, const char *) != NULL; argc++) {
		if (argc == INT_MAX) {
			errno = E2BIG;
			return -1;
		}
	}
	return argc;
}

/* argv[0] = arg, then the argc - 1 pointers that follow it, then NULL. */
static void fill_args(char **argv, ptrdiff_t argc, const char *arg, va_list ap)
{
	argv[0] = (char *)arg;
	for (ptrdiff_t i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
}

HIDDEN int arshim_execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ptrdiff_t argc = count_args(ap);
	va_end(ap);
	if (argc < 0)
		return -1;
	char *argv[argc + 1];
	va_start(ap, arg);
	fill_args(argv, argc, arg, ap);
	va_end(ap);
	return arshim_preload_execv(path, argv);
}

HIDDEN int arshim_execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ptrdiff_t argc = count_args(ap);
	va_end(ap);
	if (argc < 0)
		return -1;
	char *argv[argc + 1];
	va_start(ap, arg);
	fill_args(argv, argc, arg, ap);
	va_end(ap);
	return arshim_preload_execvp(file, argv);
}

/* execle: the environment is the argument after the terminating NULL. */
HIDDEN int arshim_execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ptrdiff_t argc = count_args(ap);
	va_end(ap);
	if (argc < 0)
		return -1;
	char *argv[argc + 1];
	va_start(ap, arg);
	fill_args(argv, argc, arg, ap);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return arshim_preload_execve(path, argv, envp);
}

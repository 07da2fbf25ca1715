#ifndef GREET_H
#define GREET_H
#include <stddef.h>
/* Writes "hello, NAME!" into buf (at most len bytes); returns the length. */
size_t greet(char *buf, size_t len, const char *name);
/* Formats "KEY = VALUE" into buf. */
size_t fmt_kv(char *buf, size_t len, const char *key, long value);
#endif

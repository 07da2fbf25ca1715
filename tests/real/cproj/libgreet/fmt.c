#include <stdio.h>
#include "greet.h"

size_t fmt_kv(char *buf, size_t len, const char *key, long value) {
    int n = snprintf(buf, len, "%s = %ld", key, value);
    return n < 0 ? 0 : (size_t)n;
}

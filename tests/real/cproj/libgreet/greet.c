#include <stdio.h>
#include "greet.h"

size_t greet(char *buf, size_t len, const char *name) {
    int n = snprintf(buf, len, "hello, %s!", name);
    return n < 0 ? 0 : (size_t)n;
}

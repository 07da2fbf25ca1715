#include <stdio.h>
#include "calc.h"
#include "greet.h"

long extra_answer(void);

int main(int argc, char **argv) {
    char buf[128];
    greet(buf, sizeof buf, argc > 1 ? argv[1] : "nobody");
    puts(buf);
    fmt_kv(buf, sizeof buf, "fib(40)", calc_fib(40));
    puts(buf);
    fmt_kv(buf, sizeof buf, "6 * 7", calc_mul(6, 7));
    puts(buf);
    fmt_kv(buf, sizeof buf, "extra", extra_answer());
    puts(buf);
    return 0;
}

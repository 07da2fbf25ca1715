#include "calc.h"
long calc_fib(int n) {
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long t = calc_add(a, b);
        a = b;
        b = t;
    }
    return a;
}

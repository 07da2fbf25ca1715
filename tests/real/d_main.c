/* Links the archive ldc2 built and calls its extern(C) functions (they use
 * no D runtime, so no druntime/phobos is needed to link). */
#include <stdio.h>
int foo_d(int);
int bar_d(int);
int main(void) {
    printf("foo_d(6) = %d, bar_d(6) = %d\n", foo_d(6), bar_d(6));
    return 0;
}

/* Links the static library ghc -staticlib built (Foo.o + the RTS + base)
 * and calls the exported Haskell function. */
#include <stdio.h>
#include "HsFFI.h"
#include "Foo_stub.h"

int main(int argc, char **argv) {
    hs_init(&argc, &argv);
    printf("foo(10) = %d\n", (int)foo(10));
    hs_exit();
    return 0;
}

/* Links the archive gcc-ar built (LTO objects and a data member) and calls
 * both functions. */
#include <stdio.h>
int one(int);
int two(int);
extern const unsigned char ar_blob[], ar_blob_end[];
int main(void) {
    printf("one(41) = %d, two(21) = %d, blob = %ld bytes\n", one(41), two(21),
           (long)(ar_blob_end - ar_blob));
    return 0;
}

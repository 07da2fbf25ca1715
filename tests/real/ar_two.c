/* gcc-ar host fixture: compiled with -flto, archived by `gcc-ar rcs`. */
int two(int x) { return x * 2; }

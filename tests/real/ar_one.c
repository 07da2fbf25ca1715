/* gcc-ar host fixture: compiled with -flto, archived by `gcc-ar rcs`. */
int one(int x) { return x + 1; }

// ldc2 host fixture: `ldc2 -lib foo.d bar.d -of=libfoo.a --ar=ar`.
extern (C) int foo_d(int x) { return x * 7 + 1; }

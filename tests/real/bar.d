// ldc2 host fixture: second module, second archive member.
extern (C) int bar_d(int x) { return x - 2; }

/* A tiny translation unit for the arshim demo. */
int demo_b(int x) { return x * 2; }

/* A tiny translation unit for the arshim demo. */
int demo_a(int x) { return x + 1; }

// tests/real_links.rs: a D program whose link fails (an undefined symbol).
extern (C) void arshim_no_such_symbol();

void main()
{
    arshim_no_such_symbol();
}

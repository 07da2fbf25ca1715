// tests/real_links.rs: a small D program ldc2 links into an executable.
import std.stdio;

int main(string[] args)
{
    writeln("linked by ldc2: ", args.length);
    return 3;
}

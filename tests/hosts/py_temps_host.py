"""A Python host whose temporaries are written by its children, for
tests/temps.rs, run by the real CPython binary:

    python3 py_temps_host.py SOURCE.c

`tempfile.mkdtemp(prefix="tool-")` in $TMPDIR; `cc -c SOURCE.c -o
DIR/x.o` through `subprocess.run` (fork or vfork, then exec, then
waitpid); `ar rcsv lib.a DIR/x.o` the same way, last; then, in its main
code, `shutil.rmtree(DIR)`. Exits with ar's status (128+N for a signal
N), 3 when cc fails.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 2:
        print("usage: py_temps_host.py SOURCE.c", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tool-")
    obj = os.path.join(tmp, "x.o")
    if subprocess.run(["cc", "-c", sys.argv[1], "-o", obj]).returncode != 0:
        return 3
    rc = subprocess.run(["ar", "rcsv", "lib.a", obj]).returncode
    shutil.rmtree(tmp)
    return rc if rc >= 0 else 128 - rc


sys.exit(main())

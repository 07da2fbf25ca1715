"""A Python "legacy linker" whose last act is its archiver, started with
os.posix_spawnp (tests/script_verdicts.rs), run by the real CPython binary.

    python3 SCRIPT MODE ARCHIVE OBJ...

Runs `ar rcsv ARCHIVE OBJ...` (ar prints a line per member) and waits for
it. MODE `final`: nothing more, exits with ar's code. MODE `write-after`:
then writes "done" to after.txt (work a conversion would lose: NOT SAFE).
MODE `time-named`: archives copies of the objects named after the time
they were made (`m0-<unix nanoseconds>.o`), as some generators do.
The tests copy this file under several names: each copy is its own script.
"""
import os
import shutil
import sys
import time


def main():
    if len(sys.argv) < 4:
        print("usage: SCRIPT MODE ARCHIVE OBJ...", file=sys.stderr)
        return 2
    mode, archive, objs = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "time-named":
        named = [f"m{i}-{time.time_ns()}.o" for i in range(len(objs))]
        for obj, name in zip(objs, named):
            shutil.copy(obj, name)
        objs = named
    pid = os.posix_spawnp("ar", ["ar", "rcsv", archive, *objs], os.environ)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if mode == "write-after":
        with open("after.txt", "w") as f:
            f.write("done\n")
    return code if code >= 0 else 128 - code


sys.exit(main())

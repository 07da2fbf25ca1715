"""A Python "legacy linker" for tests/verify_after.rs: runs
`ar rcs ARCHIVE OBJ...` with subprocess (vfork + exec, waitpid), then:

    python3 after_host.py cp ARCHIVE OBJ...     `cp ARCHIVE installed.a`
    python3 after_host.py twice ARCHIVE OBJ...  `ar rcs second.a OBJ...`

Exits with the last command's code. Prints nothing itself.
"""
import subprocess
import sys


def main():
    if len(sys.argv) < 4:
        print("usage: after_host.py cp|twice ARCHIVE OBJ...", file=sys.stderr)
        return 2
    mode, archive, objs = sys.argv[1], sys.argv[2], sys.argv[3:]
    rc = subprocess.run(["ar", "rcs", archive, *objs]).returncode
    if rc != 0:
        return rc
    if mode == "cp":
        return subprocess.run(["cp", archive, "installed.a"]).returncode
    return subprocess.run(["ar", "rcs", "second.a", *objs]).returncode


sys.exit(main())

"""A Python "legacy linker" that reads its archiver's output with
subprocess.run and acts on it after the archiver ended, for
tests/captured_output.rs, run by the real CPython binary.

    python3 capture_host.py MODE AR ARCHIVE OBJ...

MODE `capture`: `subprocess.run([AR, "rcsv", ARCHIVE, OBJ...],
capture_output=True, text=True)` (fork/vfork + exec with stdout and stderr
on pipes, read to EOF, then waitpid); on a non-zero status prints
"ar failed:" and ar's stderr and exits 3, else prints ar's stdout and
exits 0. MODE `quiet`: the same, but prints nothing on success (as rustc
does with its linker's output). MODE `inherit`: the same run without capture_output (ar writes to
the host's own stdout and stderr); exits with ar's status.

Holds HOST_TOUCH_MIB (default 64) MiB, every page written, and appends
"host PID" to $HOST_PID_FILE.
"""
import os
import subprocess
import sys


def main():
    if len(sys.argv) < 5:
        print("usage: capture_host.py capture|quiet|inherit AR ARCHIVE OBJ...", file=sys.stderr)
        return 2
    mode, ar, archive, objs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    mib = int(os.environ.get("HOST_TOUCH_MIB") or "64")
    ballast = b"\x5a" * (mib << 20)
    pid_file = os.environ.get("HOST_PID_FILE")
    if pid_file:
        with open(pid_file, "a") as f:
            f.write(f"host {os.getpid()}\n")
    argv = [ar, "rcsv", archive, *objs]
    if mode == "inherit":
        rc = subprocess.run(argv).returncode
        del ballast
        return rc if rc >= 0 else 128 - rc
    r = subprocess.run(argv, capture_output=True, text=True)
    del ballast
    if r.returncode:
        print("ar failed:", r.stderr)
        return 3
    if mode != "quiet":
        print(r.stdout, end="")
    return 0


sys.exit(main())

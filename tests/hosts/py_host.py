"""A Python "legacy linker" for the wait-time handoff tests
(tests/fork_handoff.rs), run with the real CPython binary.

    python3 py_host.py ARCHIVE OBJ...

Holds HOST_TOUCH_MIB (default 320) MiB, every page written; appends
"host PID" to $HOST_PID_FILE; registers an `atexit` function printing
"host: atexit ran"; print()s "host: buffered line" (stdout is a file, so
the line sits in the interpreter's own buffer), and writes
"host: log line" to PY_HOST_LOG (if set) through a file object it never
flushes or closes; then runs `ar rcs ARCHIVE OBJ...` with
`subprocess.run` (fork/vfork + exec, then waitpid) and exits with ar's
code (128+N for a signal N).
"""
import atexit
import os
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print("usage: py_host.py ARCHIVE OBJ...", file=sys.stderr)
        return 2
    mib = int(os.environ.get("HOST_TOUCH_MIB") or "320")
    ballast = b"\x5a" * (mib << 20)
    pid_file = os.environ.get("HOST_PID_FILE")
    if pid_file:
        with open(pid_file, "a") as f:
            f.write(f"host {os.getpid()}\n")
    atexit.register(lambda: print("host: atexit ran"))
    print("host: buffered line")
    log_path = os.environ.get("PY_HOST_LOG")
    if log_path:
        global LOG
        LOG = open(log_path, "w")
        LOG.write("host: log line\n")
    rc = subprocess.run(["ar", "rcs", *sys.argv[1:]]).returncode
    del ballast
    return rc if rc >= 0 else 128 - rc


LOG = None
sys.exit(main())

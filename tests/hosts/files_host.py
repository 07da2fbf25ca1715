"""A Python "legacy linker" for the `arshim verify` file tests
(tests/verify_files.rs), run with the real CPython binary.

    python3 files_host.py MODE ARCHIVE OBJ...

Runs `ar rcsv ARCHIVE OBJ...` with `subprocess.Popen` (fork/vfork + exec),
waits for it and exits with ar's code (128+N for a signal N).

    thread-map  another thread writes map.txt: 150 lines, then, once ar
                has ended, 150 more (1 ms apart); the main thread joins it.
                Converted at the wait, the thread ends before its second
                half is written, whatever the timing.
    append-log  appends "linking ARCHIVE" to build.log before ar, nothing
                after: final. A log that grows with every run.
"""
import os
import subprocess
import sys
import threading
import time


def map_lines(f, start, end, pause):
    for i in range(start, end):
        f.write(f"map line {i}: symbol_{i} at 0x{i * 64:08x}\n")
        f.flush()
        if pause:
            time.sleep(pause)


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("thread-map", "append-log"):
        print("usage: files_host.py thread-map|append-log ARCHIVE OBJ...", file=sys.stderr)
        return 2
    mode, archive, objs = sys.argv[1], sys.argv[2], sys.argv[3:]
    ended = threading.Event()
    writer = None
    if mode == "thread-map":
        mapf = open("map.txt", "w")

        def write_map():
            map_lines(mapf, 0, 150, 0)
            ended.wait()
            map_lines(mapf, 150, 300, 0.001)
            mapf.close()

        writer = threading.Thread(target=write_map)
        writer.start()
    else:
        with open("build.log", "a") as log:
            log.write(f"linking {archive}\n")
    rc = subprocess.Popen(["ar", "rcsv", archive, *objs]).wait()
    ended.set()
    if writer is not None:
        writer.join()
    return rc if rc >= 0 else 128 - rc


sys.exit(main())

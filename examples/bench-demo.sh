#!/usr/bin/env bash
# arshim demo, measured: `arshim bench` runs the bundled demo linker alternately
# without and with the library, prints the table (medians, with/without ratio)
# and writes the plot of both memory timelines to target/bench-demo.svg.
# Usage: bash examples/bench-demo.sh        (after make)
#        DEMO_MIB=256 DEMO_PAIRS=3 bash examples/bench-demo.sh
set -eu

die() { printf 'bench-demo: error: %s\n' "$*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

arshim=target/release/arshim
[ -x "$arshim" ] || die "$arshim is missing — run make first"
[ -f target/release/libarshim.so ] || die "target/release/libarshim.so is missing — run make first"

mib=${DEMO_MIB:-1024}
pairs=${DEMO_PAIRS:-5}
case $mib in '' | *[!0-9]* | 0*) die "DEMO_MIB must be a positive number of MiB, got '$mib'" ;; esac
case $pairs in '' | *[!0-9]* | 0*) die "DEMO_PAIRS must be a positive number, got '$pairs'" ;; esac
avail_kib=$(sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo 2>/dev/null || true)
# Without arshim the linker and ar are resident together.
if [ -n "$avail_kib" ] && [ $((mib * 1024 + 131072)) -gt "$avail_kib" ]; then
	die "the demo linker would hold $mib MiB but only $((avail_kib / 1024)) MiB are available — try DEMO_MIB=256"
fi
command -v cc >/dev/null || die "no C compiler (cc) on PATH"
[ -x examples/bin/ar ] || chmod +x examples/bin/ar 2>/dev/null || die "examples/bin/ar is not executable"

# Build as demo.sh does, into target/bench-demo/.
demo=target/bench-demo
rm -rf "$demo"
mkdir -p "$demo/out"
cc -O2 -Wall -Wextra -o "$demo/demo-linker" examples/demo-linker.c || die "cannot build examples/demo-linker.c"
cc -O2 -c -o "$demo/a.o" examples/src/a.c || die "cannot compile examples/src/a.c"
cc -O2 -c -o "$demo/b.o" examples/src/b.c || die "cannot compile examples/src/b.c"

# The stand-in ar (first on PATH) execs the real one.
PATH="$root/examples/bin:$PATH" "$arshim" bench -n "$pairs" --plot target/bench-demo.svg -- \
	"$demo/demo-linker" -m "$mib" -o "$demo/out/libdemo.a" "$demo/a.o" "$demo/b.o"

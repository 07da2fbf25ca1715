#!/usr/bin/env bash
# arshim demo: the same "legacy linker" run twice — plainly, then under
# `arshim run` — and what its process holds while its final `ar` runs.
# Usage: bash examples/demo.sh        (or: make demo)
#        DEMO_MIB=256 bash examples/demo.sh   (memory the demo linker holds; default 1024)
set -eu

die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

release=target/release
arshim=$release/arshim
lib=$release/libarshim.so
[ -x "$arshim" ] || die "$arshim is missing — run make first"
[ -f "$lib" ] || die "$lib is missing — run make first"

mib=${DEMO_MIB:-1024}
case $mib in '' | *[!0-9]* | 0*) die "DEMO_MIB must be a positive number of MiB, got '$mib'" ;; esac
avail_kib=$(sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo 2>/dev/null || true)
if [ -n "$avail_kib" ] && [ $((mib * 1024 + 65536)) -gt "$avail_kib" ]; then
	die "the demo linker would hold $mib MiB but only $((avail_kib / 1024)) MiB are available — try DEMO_MIB=256"
fi
command -v cc >/dev/null || die "no C compiler (cc) on PATH"
[ -x examples/bin/ar ] || chmod +x examples/bin/ar 2>/dev/null || die "examples/bin/ar is not executable"

# Build: target/demo/{demo-linker,a.o,b.o}; each run writes target/demo/runN/.
demo=$root/target/demo
rm -rf "$demo"
mkdir -p "$demo"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/arshim-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -Wextra -o "$demo/demo-linker" examples/demo-linker.c || die "cannot build examples/demo-linker.c"
cc -O2 -c -o "$demo/a.o" examples/src/a.c || die "cannot compile examples/src/a.c"
cc -O2 -c -o "$demo/b.o" examples/src/b.c || die "cannot compile examples/src/b.c"

# run N LABEL [PREFIX...]: run the demo linker (optionally under PREFIX), stdout to
# a file (so it is fully buffered), the stand-in ar's measurement to a report.
run() {
	local n=$1
	shift
	local out=$demo/run$n
	local st=0
	mkdir -p "$out"
	PATH="$root/examples/bin:$PATH" DEMO_REPORT="$tmp/report$n" DEMO_MIB="$mib" \
		"$@" "$demo/demo-linker" -m "$mib" -o "$out/libdemo.a" "$demo/a.o" "$demo/b.o" \
		>"$tmp/stdout$n" 2>"$tmp/stderr$n" || st=$?
	echo "$st" >"$tmp/status$n"
}
run 1
run 2 "$arshim" run --

# field FILE KEY: value of KEY=... in the stand-in ar's report line.
field() {
	[ -f "$1" ] || return 0
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$1"
}
kib_to_mib() { case $1 in '' | *[!0-9]*) echo "?" ;; *) awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' ;; esac; }
members() {
	if [ -f "$1" ]; then ar t "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; else echo "(no archive)"; fi
}

printf '\n'
printf 'A "legacy linker" holds %s MiB; its last act spawns `ar rcs libdemo.a *.o`,\n' "$mib"
printf 'waits and exits, so it keeps all that memory while ar runs. Under arshim its\n'
printf 'atexit handlers and stdio run first, then it execs ar: same pid, memory gone.\n\n'

fmt='%-14s  %-16s  %-7s  %-15s  %-4s  %s\n'
printf "$fmt" "" "ar ran as" "linker" "linker process" "" "archive"
printf "$fmt" "run" "pid" "pid" "held during ar" "exit" "members (ar t)"
printf "$fmt" "--------------" "----------------" "-------" "---------------" "----" "--------------"
ar_ran2=no converted=no
for n in 1 2; do
	label="without arshim"
	[ "$n" = 2 ] && label="with arshim"
	pid=$(field "$tmp/report$n" pid)
	lpid=$(field "$tmp/report$n" linker_pid)
	rss=$(field "$tmp/report$n" linker_rss_kib)
	eval "rss$n=\${rss:-}"
	how="-"
	if [ -n "$pid" ]; then
		[ "$n" = 2 ] && ar_ran2=yes
		if [ "$pid" = "$lpid" ]; then
			how="$pid (= linker)"
			[ "$n" = 2 ] && converted=yes
		else
			how="$pid (child)"
		fi
	fi
	held="-"
	[ -n "$rss" ] && held="$(kib_to_mib "$rss") MiB"
	printf "$fmt" "$label" "$how" "${lpid:--}" "$held" "$(cat "$tmp/status$n")" "$(members "$demo/run$n/libdemo.a")"
done
printf '\n'

ok=yes
if [ "$converted" = yes ] && [ -n "$rss1" ] && [ -n "$rss2" ] && [ "$rss2" -gt 0 ] 2>/dev/null; then
	awk -v a="$rss1" -v b="$rss2" 'BEGIN {
		printf "Saving: %.1f MiB -> %.1f MiB held while ar ran: %.0fx less (%.1f%% saved).\n",
			a / 1024, b / 1024, a / b, 100 * (a - b) / a }'
elif [ "$ar_ran2" = yes ]; then
	printf 'Saving: none. Under arshim, ar still ran as a child: the spawn was NOT converted.\n'
	ok=no
else
	printf 'Saving: none. Under arshim, ar never ran (did `arshim run` start the linker?).\n'
	ok=no
fi

printf '\nThe linker'"'"'s stdout, captured in a file (so fully buffered, never flushed\nby hand): the printf line and the atexit line must appear in both runs.\n'
for n in 1 2; do
	label="without arshim"
	[ "$n" = 2 ] && label="with arshim"
	if [ -s "$tmp/stdout$n" ]; then
		while IFS= read -r line; do printf '  %-16s%s\n' "$label:" "$line"; done <"$tmp/stdout$n"
	else
		printf '  %-16s(empty)\n' "$label:"
	fi
	grep -q 'linked 2 objects' "$tmp/stdout$n" && grep -q 'atexit cleanup ran' "$tmp/stdout$n" || ok=no
	if [ -s "$tmp/stderr$n" ]; then
		printf '  %-16sstderr:\n' "$label:"
		head -n 5 "$tmp/stderr$n" | sed 's/^/      /'
	fi
done
printf '\nOutputs: %s/run1, %s/run2\n' "${demo#"$root"/}" "${demo#"$root"/}"

st1=$(cat "$tmp/status1") st2=$(cat "$tmp/status2")
[ "$st1" = 0 ] || die "the run without arshim failed (exit $st1)"
[ "$st2" = 0 ] || die "the run with arshim failed (exit $st2)"
[ -f "$demo/run2/libdemo.a" ] || die "the run with arshim produced no archive"
[ "$(members "$demo/run1/libdemo.a")" = "$(members "$demo/run2/libdemo.a")" ] || die "the two archives differ"
[ "$ok" = yes ] || die "the with-arshim run did not show the expected conversion (see above)"

#!/usr/bin/env bash
# arshim benchmarks: the load-cost / hooked-call / conversion / end-to-end
# measurements (README, "Performance"; goals 1-4 below). Builds the C
# programs of benches/ into target/bench/, runs the four measurements and
# prints ONE table.
#
#   bash benches/run.sh            (or: make bench)     full run, <= 15 min on 2 cores
#   BENCH_QUICK=1 bash benches/run.sh                   smaller, 1 GiB only (~2 min)
#
# The full run writes the table to benches/RESULTS.md; a quick run to
# target/bench/RESULTS.quick.md. Raw data: target/bench/raw/.
#
# Goals (the targets the README's "Performance" table reports against):
#  1. loading libarshim.so into /bin/true (off, or on but out of scope) costs
#     <= 1.05x the whole loop with an empty C library preloaded;
#  2. a hooked call with the library off is within noise (<= 1%) of the real call;
#  3. the conversion path: host's spawn call -> archiver's first instruction,
#     vs fork+exec and posix_spawn from a host holding 1/4/8 GiB (measured, no target);
#  4. the demo linker at 1/4/8 GiB: wall time with/without <= 1.0, and the
#     tree's RSS while ar runs <= ar's own RSS + 2 MiB;
#  5. a whole build, four 1 GiB demo linkers under make -j4 (benches/build.sh):
#     the build's peak with/without and its wall time (measured, no target);
#     plot in target/bench/build.svg (a full run copies it to benches/build.svg);
#  6. compilers that end with the system linker (benches/links.sh): ldc2
#     linking a big D program, and a cargo workspace under --hosts rustc.
set -eu

. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"

release=$root/target/release
lib=$release/libarshim.so
arshim=$release/arshim
[ -f "$lib" ] || die "$lib is missing: run make build first"
[ -x "$arshim" ] || die "$arshim is missing: run make build first"
command -v cc >/dev/null || die "no C compiler (cc) on PATH"

# ---- parameters ---------------------------------------------------------
if [ "$quick" = 1 ]; then
	g1_n=200 g1_rounds=4
	g2_spawn_blocks=4 g2_spawn_n=250      # 1,000 spawns per side
	g2_system_blocks=4 g2_system_n=50     # 200 system() per side
	g2_cheap_rounds=3 g2_cheap_n=1000000
	sizes="1" g3_runs=3 g4_runs=3 g4_own_runs=2
else
	g1_n=250 g1_rounds=24                 # 6,000 processes per configuration
	g2_spawn_blocks=20 g2_spawn_n=500     # 10,000 spawns per side
	g2_system_blocks=20 g2_system_n=100   # 2,000 system() per side
	g2_cheap_rounds=7 g2_cheap_n=1000000
	sizes="1 4 8" g3_runs=5 g4_runs=7 g4_own_runs=5
fi
sample_hz=1000 # goal 4: tree RSS samples per second

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- build --------------------------------------------------------------
bench=$root/target/bench
raw=$bench/raw
rm -rf "$raw"
mkdir -p "$bench" "$raw"
say "building C programs into ${bench#"$root"/}/"
cflags="-O2 -Wall -Wextra"
cc $cflags -o "$bench/spawnloop" benches/spawnloop.c
cc $cflags -o "$bench/hookcost" benches/hookcost.c
cc $cflags -o "$bench/host" benches/host.c
cc $cflags -o "$bench/treemem" benches/treemem.c
cc $cflags -static -o "$bench/ar" benches/ar.c || die "cannot build a static ar (cc -static): is libc6-dev installed?"
cc -shared -fPIC -o "$bench/libempty.so" -x c /dev/null
cc -O2 -o "$bench/demo-linker" examples/demo-linker.c
cc -O2 -c -o "$bench/a.o" examples/src/a.c
cc -O2 -c -o "$bench/b.o" examples/src/b.c
[ -x examples/bin/ar ] || die "examples/bin/ar is not executable"
empty=$bench/libempty.so
target=/bin/true
[ -x "$target" ] || die "$target is missing"

# ---- helpers ------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "nan"; exit } print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
maxof() { sort -g | tail -n 1; }
calc() { awk "BEGIN { printf \"$1\\n\", $2 }"; }
# key=value from a report line
field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$1"; }
avail_gib() { awk '/^MemAvailable:/ { printf "%d", $2 / 1048576 }' /proc/meminfo; }
# Environment without any preload or arshim settings, for the baselines.
clean_env=(env -u LD_PRELOAD -u ARSHIM -u ARSHIM_PID -u ARSHIM_HOSTS -u ARSHIM_TOOLS -u ARSHIM_LOG -u ARSHIM_TRACE
	-u ARSHIM_COMPANION -u ARSHIM_SPENT -u ARSHIM_WARNED -u ARSHIM_REAP_PRELOAD -u LD_DEBUG)

# The table: rows of goal|measurement|baseline|arshim|ratio|target|met, TAB-separated.
rows=()
row() { rows+=("$(printf '%s\t' "$@")"); }
verdict() { if [ "$1" = 1 ]; then echo yes; else echo NO; fi; }

# ---- goal 1: per-process load cost --------------------------------------
say "goal 1: $target x $g1_n x $g1_rounds rounds, 5 interleaved configurations"
declare -A g1_env=(
	[none]=""
	[empty]="LD_PRELOAD=$empty"
	[shim_off]="LD_PRELOAD=$lib"
	[shim_oos]="LD_PRELOAD=$lib ARSHIM=1 ARSHIM_PID=1"
	[shim_hosts]="LD_PRELOAD=$lib ARSHIM=1 ARSHIM_HOSTS=no-such-host"
)
for c in none empty shim_off shim_oos shim_hosts; do
	# shellcheck disable=SC2086
	"${clean_env[@]}" ${g1_env[$c]} "$target" 2>"$raw/g1.stderr.$c" || die "$target failed with $c"
	[ -s "$raw/g1.stderr.$c" ] && say "warning: $target printed on stderr with $c: $(head -c 200 "$raw/g1.stderr.$c")"
done
"${clean_env[@]}" "$bench/spawnloop" "$g1_n" "$g1_rounds" "$target" "$empty" "$lib" >"$raw/g1.spawnloop"
# Per configuration: the median over rounds of us/process (elapsed, and the
# children's CPU time). Ratios: the median over rounds of (block / the empty
# library's block of the same round), robust to a round disturbed by other
# load; the CPU-time ratio is the less load-sensitive check of the same thing.
declare -A us cpu flt ratio cratio
while read -r kind name rest; do
	case $kind in
	wall) printf '%s\n' $rest >"$raw/g1.wall.$name"; us[$name]=$(calc '%.1f' "$(median <"$raw/g1.wall.$name")") ;;
	cpu) printf '%s\n' $rest >"$raw/g1.cpu.$name"; cpu[$name]=$(calc '%.1f' "$(median <"$raw/g1.cpu.$name")") ;;
	minflt) flt[$name]=$rest ;;
	esac
done <"$raw/g1.spawnloop"
for c in none shim_off shim_oos shim_hosts; do
	ratio[$c]=$(paste "$raw/g1.wall.$c" "$raw/g1.wall.empty" | awk '{ printf "%.4f\n", $1 / $2 }' | median)
	cratio[$c]=$(paste "$raw/g1.cpu.$c" "$raw/g1.cpu.empty" | awk '{ printf "%.4f\n", $1 / $2 }' | median)
done
# LD_DEBUG=statistics: relocations (deterministic); LD_DEBUG=bindings: symbol
# bindings; callgrind: user-space instructions per process, with the part in
# ld.so's relocation (_dl_relocate_object) and in constructors (call_init).
declare -A relocs relrel binds sysc irtot irreloc irinit
for c in none empty shim_off shim_oos shim_hosts; do
	# shellcheck disable=SC2086
	"${clean_env[@]}" ${g1_env[$c]} LD_DEBUG=statistics "$target" 2>"$raw/g1.lddebug.$c" || true
	# shellcheck disable=SC2086
	binds[$c]=$("${clean_env[@]}" ${g1_env[$c]} LD_DEBUG=bindings "$target" 2>&1 | grep -c 'binding file' || true)
	irtot[$c]=- irreloc[$c]=- irinit[$c]=-
	if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
		# shellcheck disable=SC2086
		"${clean_env[@]}" ${g1_env[$c]} valgrind --tool=callgrind --callgrind-out-file="$raw/g1.callgrind.$c" "$target" 2>"$raw/g1.callgrind.$c.log" || true
		irtot[$c]=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$raw/g1.callgrind.$c.log")
		callgrind_annotate --inclusive=yes --threshold=100 "$raw/g1.callgrind.$c" >"$raw/g1.callgrind.$c.txt" 2>/dev/null || true
		incl() { awk -v f="$2" '$0 ~ f { gsub(",", "", $1); print $1; exit }' "$raw/g1.callgrind.$1.txt"; }
		irreloc[$c]=$(incl "$c" ':_dl_relocate_object \\[')
		irinit[$c]=$(incl "$c" ':call_init \\[')
		: "${irreloc[$c]:=0}" "${irinit[$c]:=0}"
	fi
	relocs[$c]=$(sed -n 's/.*number of relocations: *\([0-9]*\).*/\1/p' "$raw/g1.lddebug.$c" | head -n 1)
	relrel[$c]=$(sed -n 's/.*number of relative relocations: *\([0-9]*\).*/\1/p' "$raw/g1.lddebug.$c" | head -n 1)
	sysc[$c]=-
	if command -v strace >/dev/null; then
		envargs=()
		# shellcheck disable=SC2086
		for kv in ${g1_env[$c]}; do envargs+=(-E "$kv"); done
		if "${clean_env[@]}" strace -qq -o "$raw/g1.strace.$c" "${envargs[@]}" "$target" 2>/dev/null; then
			sysc[$c]=$(grep -vc '^+++\|^---' "$raw/g1.strace.$c" || true)
		fi
	fi
done
so_size() { stat -c %s "$1"; }
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ' | sed 's/ $//'; }

g1_ratio_off=$(calc '%.3f' "${ratio[shim_off]}")
g1_ratio_oos=$(calc '%.3f' "${ratio[shim_oos]}")
g1_ratio_hosts=$(calc '%.3f' "${ratio[shim_hosts]}")
extra() { calc '%.1f' "${us[$1]} - ${us[none]}"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.2f\n", a / b }'; }
g1_extra_ratio_off=$(div "$(extra shim_off)" "$(extra empty)")
g1_extra_ratio_oos=$(div "$(extra shim_oos)" "$(extra empty)")
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
n_g1=$((g1_n * g1_rounds))
row "1" "/bin/true x$n_g1 ($g1_rounds rounds), us/process (no preload: ${us[none]})" "${us[empty]} (empty .so)" "${us[shim_off]} (off)" "${g1_ratio_off}x" "<= 1.05x" "$(verdict "$(le "$g1_ratio_off" 1.05)")"
row "1" "same, ARSHIM=1 but out of scope (ARSHIM_PID=1)" "${us[empty]} (empty .so)" "${us[shim_oos]} (out of scope)" "${g1_ratio_oos}x" "<= 1.05x" "$(verdict "$(le "$g1_ratio_oos" 1.05)")"
row "1" "same, ARSHIM_HOSTS naming another program" "${us[empty]} (empty .so)" "${us[shim_hosts]} (out of scope)" "${g1_ratio_hosts}x" "<= 1.05x" "$(verdict "$(le "$g1_ratio_hosts" 1.05)")"
row "1" "extra us/process above no preload (off / out of scope)" "$(extra empty)" "$(extra shim_off) / $(extra shim_oos)" "${g1_extra_ratio_off}x / ${g1_extra_ratio_oos}x" "info" ""
row "1" "children's CPU us/process, none ${cpu[none]} (off / oos)" "${cpu[empty]}" "${cpu[shim_off]} / ${cpu[shim_oos]}" "$(calc '%.3f' "${cratio[shim_off]}")x / $(calc '%.3f' "${cratio[shim_oos]}")x" "info" ""
row "1" "minor page faults/process, none ${flt[none]} (off / oos)" "${flt[empty]}" "${flt[shim_off]} / ${flt[shim_oos]}" "" "info" ""
row "1" "syscalls/process (strace), none ${sysc[none]} (off / oos)" "${sysc[empty]}" "${sysc[shim_off]} / ${sysc[shim_oos]}" "" "info" ""
row "1" "LD_DEBUG=statistics relocations (relative), none ${relocs[none]} (${relrel[none]})" "${relocs[empty]} (${relrel[empty]})" "${relocs[shim_off]} (${relrel[shim_off]})" "" "info" ""
row "1" "symbol bindings (LD_DEBUG=bindings), none ${binds[none]} (off / oos)" "${binds[empty]}" "${binds[shim_off]} / ${binds[shim_oos]}" "" "info" ""
row "1" "user instructions/process (callgrind), none ${irtot[none]} (off / oos)" "${irtot[empty]}" "${irtot[shim_off]} / ${irtot[shim_oos]}" "" "info" ""
row "1" "  of which ld.so relocation, none ${irreloc[none]} (off / oos)" "${irreloc[empty]}" "${irreloc[shim_off]} / ${irreloc[shim_oos]}" "" "info" ""
row "1" "  of which constructors, none ${irinit[none]} (off / oos)" "${irinit[empty]}" "${irinit[shim_off]} / ${irinit[shim_oos]}" "" "info" ""
row "1" ".so size in bytes; NEEDED: $(needed "$lib")" "$(so_size "$empty")" "$(so_size "$lib")" "" "info" ""
core=$release/libarshim_core.so
row "1" "core loaded only in scope: bytes; NEEDED: $(needed "$core")" "" "$(so_size "$core")" "" "info" ""

# ---- goal 2: hooked calls when off --------------------------------------
say "goal 2: hooked calls with the library off vs not preloaded (interleaved)"
# run_hook TEST N SIDE: ns per call; SIDE a = no preload, b = LD_PRELOAD=lib (ARSHIM unset)
run_hook() {
	local out
	if [ "$3" = a ]; then
		out=$("${clean_env[@]}" "$bench/hookcost" "$1" "$2")
		case $out in *shim=0) ;; *) die "hookcost without preload: $out" ;; esac
	else
		out=$("${clean_env[@]}" LD_PRELOAD="$lib" "$bench/hookcost" "$1" "$2")
		case $out in *shim=1) ;; *) die "hookcost with LD_PRELOAD: libarshim.so not loaded: $out" ;; esac
	fi
	echo "$out" | awk '{ print $3 }'
}
# g2_time TEST BLOCKS N LABEL: interleaved blocks (order alternating), paired diff.
g2_time() {
	local test=$1 blocks=$2 n=$3 label=$4 b a bb
	: >"$raw/g2.$test"
	for b in $(seq "$blocks"); do
		if [ $((b % 2)) = 1 ]; then
			a=$(run_hook "$test" "$n" a)
			bb=$(run_hook "$test" "$n" b)
		else
			bb=$(run_hook "$test" "$n" b)
			a=$(run_hook "$test" "$n" a)
		fi
		echo "$a $bb" >>"$raw/g2.$test"
	done
	# Robust to a block disturbed by other load: the median of each side, the
	# median of the paired differences (%) and its standard error from the MAD.
	local res
	res=$(awk '{ a[NR] = $1; b[NR] = $2; d[NR] = ($2 - $1) / $1 * 100 }
		function med(x, n,   i, j, t, y) { for (i = 1; i <= n; i++) y[i] = x[i]
			for (i = 2; i <= n; i++) { t = y[i]; for (j = i - 1; j >= 1 && y[j] > t; j--) y[j + 1] = y[j]; y[j + 1] = t }
			return n % 2 ? y[(n + 1) / 2] : (y[n / 2] + y[n / 2 + 1]) / 2 }
		END { n = NR; md = med(d, n); for (i = 1; i <= n; i++) { e[i] = d[i] - md; if (e[i] < 0) e[i] = -e[i] }
		      se = 1.4826 * med(e, n) * 1.2533 / sqrt(n)
		      printf "%.1f %.1f %+.2f %.2f", med(a, n), med(b, n), md, se }' "$raw/g2.$test")
	set -- $res
	local ok=0
	# met unless the shim is slower by more than 1% and by more than the noise
	ok=$(awk -v d="$3" -v se="$4" 'BEGIN { print (d <= 1 || d <= 2 * se) ? 1 : 0 }')
	row "2" "$label, ns/call" "$1" "$2" "$3% +-$4%" "<= 1% or noise" "$(verdict "$ok")"
}
g2_time spawn "$g2_spawn_blocks" "$g2_spawn_n" "posix_spawn(/bin/true)+waitpid x$((g2_spawn_blocks * g2_spawn_n))"
g2_time system "$g2_system_blocks" "$g2_system_n" "system(\"true\") x$((g2_system_blocks * g2_system_n))"
g2_time write "$g2_cheap_rounds" "$g2_cheap_n" "write(/dev/null, 1 byte) x${g2_cheap_rounds}M"
g2_time open "$g2_cheap_rounds" "$g2_cheap_n" "open(/dev/null)+close x${g2_cheap_rounds}M"
g2_time waitpid "$g2_cheap_rounds" "$g2_cheap_n" "waitpid(-1, WNOHANG) = ECHILD x${g2_cheap_rounds}M"
# Instructions per call (callgrind, user space only): (Ir(N2) - Ir(N1)) / (N2 - N1).
if command -v valgrind >/dev/null; then
	ir() { # SIDE TEST N
		local log=$raw/g2.callgrind.$1.$2.$3
		if [ "$1" = a ]; then
			"${clean_env[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench/hookcost" "$2" "$3" >"$log.out" 2>"$log"
		else
			"${clean_env[@]}" LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench/hookcost" "$2" "$3" >"$log.out" 2>"$log"
			grep -q 'shim=1' "$log.out" || die "under valgrind, libarshim.so was not loaded ($log.out)"
		fi
		sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log"
	}
	per_call() { # SIDE TEST N1 N2
		local x y
		x=$(ir "$1" "$2" "$3")
		y=$(ir "$1" "$2" "$4")
		calc '%.0f' "($y - $x) / ($4 - $3)"
	}
	for spec in "spawn 20 120 posix_spawn+waitpid" "system 10 60 system(\"true\")" "write 10000 110000 write" \
		"open 10000 110000 open+close" "waitpid 10000 110000 waitpid(ECHILD)"; do
		set -- $spec
		a=$(per_call a "$1" "$2" "$3")
		b=$(per_call b "$1" "$2" "$3")
		row "2" "$4: instructions/call (callgrind, user space)" "$a" "$b" "+$((b - a))" "info" ""
	done
else
	row "2" "instructions/call (callgrind)" "-" "-" "" "valgrind not installed" ""
fi

# ---- goal 3: the conversion path -----------------------------------------
say "goal 3: spawn call -> archiver start from a host holding $sizes GiB, $g3_runs runs each"
g3_modes="fork spawn conv handoff"
g3_mode_list=(fork spawn conv handoff)
for s in $sizes; do
	if [ "$(avail_gib)" -lt $((s + 2)) ]; then
		say "goal 3: skipping $s GiB: only $(avail_gib) GiB available"
		row "3" "$s GiB host: skipped, only $(avail_gib) GiB available" "" "" "" "" ""
		continue
	fi
	for r in $(seq "$g3_runs"); do
		# rotate the order of the four modes every run
		for k in 0 1 2 3; do
			m=${g3_mode_list[$(((r + k) % 4))]}
			rep=$raw/g3.$s.$m.$r.rep
			rm -f "$rep" "$rep.wait" "$rep.stderr"
			case $m in
			fork) "${clean_env[@]}" "$bench/host" fork "$s" "$bench/ar" "$rep" nopoll 2>"$rep.stderr" & ;;
			spawn) "${clean_env[@]}" "$bench/host" spawn "$s" "$bench/ar" "$rep" nopoll 2>"$rep.stderr" & ;;
			conv) "${clean_env[@]}" "$arshim" run -- "$bench/host" spawn "$s" "$bench/ar" "$rep" nopoll 2>"$rep.stderr" & ;;
			handoff) "${clean_env[@]}" "$arshim" run -- "$bench/host" fork "$s" "$bench/ar" "$rep" poll 2>"$rep.stderr" & ;;
			esac
			hpid=$!
			st=0
			wait "$hpid" || st=$?
			[ "$st" = 0 ] || die "goal 3: host $m $s GiB exited $st: $(head -c 300 "$rep.stderr")"
			[ -s "$rep" ] || die "goal 3: no report from ar ($m, $s GiB)"
			echo "host_pid=$hpid wait_ns=$(tr -d '\0 \n' <"$rep.wait" | sed 's/^0*//')" >>"$rep"
		done
	done
	# per mode: median start (ms), memory held while ar ran, conversion checks
	for m in $g3_modes; do
		st_ms=$(for f in "$raw"/g3.$s.$m.*.rep; do calc '%.3f' "$(field "$f" start_ns) / 1e6"; done | median)
		eval "g3_start_$m=\$st_ms"
		held=$(for f in "$raw"/g3.$s.$m.*.rep; do
			hp=$(field "$f" host_pid) p=$(field "$f" pid) pp=$(field "$f" ppid)
			if [ "$p" = "$hp" ]; then field "$f" self_rss_kib
			elif [ "$pp" = "$hp" ] && [ "$m" = handoff ] && [ "$(field "$f" drop_ns)" != -1 ]; then field "$f" reaper_rss_kib
			else field "$f" parent_rss_kib; fi
		done | median)
		eval "g3_held_$m=\$held"
	done
	# conversion really happened?
	conv_n=0 hand_n=0
	for f in "$raw"/g3.$s.conv.*.rep; do [ "$(field "$f" pid)" = "$(field "$f" host_pid)" ] && conv_n=$((conv_n + 1)); done
	for f in "$raw"/g3.$s.handoff.*.rep; do [ "$(field "$f" drop_ns)" != -1 ] && hand_n=$((hand_n + 1)); done
	[ "$conv_n" = "$g3_runs" ] || say "goal 3: WARNING: at $s GiB only $conv_n of $g3_runs posix_spawn calls under the shim were converted"
	[ "$hand_n" = "$g3_runs" ] || say "goal 3: WARNING: at $s GiB only $hand_n of $g3_runs fork+exec under the shim were handed off (the host kept its memory while ar ran)"
	# handoff: wait call -> image switched (VmRSS < 20 MiB) -> reaper running (old image freed)
	since_wait() {
		for f in "$raw"/g3.$s.handoff.*.rep; do
			d=$(field "$f" "$1") w=$(field "$f" wait_ns)
			[ "$d" != -1 ] && calc '%.3f' "($d - $w) / 1e6"
		done | median
	}
	gone=$(since_wait drop_ns)
	reaper=$(since_wait run_ns)
	mib() { calc '%.1f MiB' "$1 / 1024"; }
	row "3" "$s GiB host: spawn call -> ar start, ms: posix_spawn / converted posix_spawn" "$g3_start_spawn" "$g3_start_conv" "$(calc '%.1fx' "$g3_start_conv / $g3_start_spawn")" "measure" "converted $conv_n/$g3_runs"
	row "3" "$s GiB host: spawn call -> ar start, ms: fork+exec / fork+exec under shim" "$g3_start_fork" "$g3_start_handoff" "$(calc '%.2fx' "$g3_start_handoff / $g3_start_fork")" "measure" ""
	row "3" "$s GiB host: wait call -> host image gone (VmRSS < 20 MiB) / reaper runs, ms" "never (held until ar exits)" "$gone / $reaper" "" "measure" "handed off $hand_n/$g3_runs"
	row "3" "$s GiB host: host memory held while ar runs: posix_spawn / converted" "$(mib "$g3_held_spawn")" "$(mib "$g3_held_conv")" "" "measure" ""
	row "3" "$s GiB host: host memory held while ar runs: fork+exec / handoff (reaper)" "$(mib "$g3_held_fork")" "$(mib "$g3_held_handoff")" "" "measure" ""
done

# ---- goal 4: the demo linker end to end ----------------------------------
# Wall time and the tree's RSS while ar runs: `arshim bench --json` (A/B pairs,
# tree sampled at 1 kHz) when this arshim has it, else our own sampler. ar's
# own RSS, and the tree's excess over it in the same sample: always our own
# sampler (target/bench/treemem), which also counts ar's children (the
# stand-in examples/bin/ar runs sed and subshells) as ar.
use_ab=0
if "$arshim" bench --help >/dev/null 2>&1 && command -v python3 >/dev/null; then use_ab=1; fi
say "goal 4: demo linker at $sizes GiB without/with arshim, $g4_runs pairs each$([ "$use_ab" = 1 ] && echo ' (arshim bench)'), + $g4_own_runs sampled pairs"
demo_dir=$bench/demo
demo_cmd() { dcmd=("$bench/demo-linker" -m $(($1 * 1024)) -o "$demo_dir/libdemo.a" "$bench/a.o" "$bench/b.o"); }
check_archive() { [ "$(ar t "$demo_dir/libdemo.a" | tr '\n' ' ')" = "a.o b.o " ] || die "goal 4: wrong archive ($1)"; }
treemem_run() { # SIZE SIDE N
	local out=$raw/g4.$1.$2.$3
	local cmd
	demo_cmd "$1"
	cmd=("${dcmd[@]}")
	rm -rf "$demo_dir"
	mkdir -p "$demo_dir"
	[ "$2" = with ] && cmd=("$arshim" run -- "${cmd[@]}")
	DEMO_SPAWN_STAMP=$out.stamp PATH="$root/examples/bin:$PATH" "${clean_env[@]}" "$bench/treemem" "$sample_hz" "$out" -- "${cmd[@]}" \
		>"$out.stdout" 2>"$out.stderr" || die "goal 4: demo linker ($2, $1 GiB) failed: $(head -c 300 "$out.stderr")"
	check_archive "$2, $1 GiB"
}
json() { python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k] if isinstance(d, dict) else d[int(k)]
print("nan" if d is None else d)' "$1" "$2"; }
for s in $sizes; do
	if [ "$(avail_gib)" -lt $((s + 2)) ]; then
		row "4" "$s GiB demo linker: skipped, only $(avail_gib) GiB available" "" "" "" "" ""
		continue
	fi
	treemem_run "$s" without 0 # warm-up, not counted
	treemem_run "$s" with 0
	nown=$g4_own_runs
	[ "$use_ab" = 1 ] || nown=$g4_runs
	for r in $(seq "$nown"); do
		if [ $((r % 2)) = 1 ]; then treemem_run "$s" without "$r"; treemem_run "$s" with "$r"
		else treemem_run "$s" with "$r"; treemem_run "$s" without "$r"; fi
	done
	g4() { for r in $(seq "$nown"); do field "$raw/g4.$s.$1.$r" "$2"; done; }
	for side in without with; do
		eval "wall_$side=\$(g4 $side wall_ns | median)"
		eval "tree_$side=\$(g4 $side ar_tree_kib | median)"
		eval "own_$side=\$(g4 $side ar_own_kib | median)"
		eval "exc_$side=\$(g4 $side ar_excess_kib | maxof)"
		eval "nsamp_$side=\$(g4 $side ar_samples | sort -g | head -n 1)"
	done
	# From the spawn call to the end of the run: what the shim changes, without
	# the page faults of touching the memory (the noisiest part here).
	tail_ns() { for r in $(seq "$nown"); do echo $(($(field "$raw/g4.$s.$1.$r" end_mono_ns) - $(cat "$raw/g4.$s.$1.$r.stamp"))); done; }
	tail_without=$(tail_ns without | median)
	tail_with=$(tail_ns with | median)
	tail_pairs=$(paste <(tail_ns without) <(tail_ns with) | awk '{ printf "%.4f\n", $2 / $1 }' | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')
	src="own sampler, median of $nown"
	if [ "$use_ab" = 1 ]; then
		rm -rf "$demo_dir"
		mkdir -p "$demo_dir"
		demo_cmd "$s"
		PATH="$root/examples/bin:$PATH" "${clean_env[@]}" "$arshim" bench -n "$g4_runs" --json -- "${dcmd[@]}" \
			>"$raw/g4.$s.json" 2>"$raw/g4.$s.log" || die "goal 4: arshim bench failed at $s GiB: $(tail -n 3 "$raw/g4.$s.log")"
		check_archive "arshim bench, $s GiB"
		[ "$(json "$raw/g4.$s.json" ok)" = True ] || say "goal 4: arshim bench reports problems at $s GiB: $(json "$raw/g4.$s.json" problems)"
		wall_without=$(calc '%.0f' "$(json "$raw/g4.$s.json" median.without.wall_s) * 1e9")
		wall_with=$(calc '%.0f' "$(json "$raw/g4.$s.json" median.with.wall_s) * 1e9")
		tree_without=$(json "$raw/g4.$s.json" median.without.held_during_archiver_kib)
		tree_with=$(json "$raw/g4.$s.json" median.with.held_during_archiver_kib)
		src="arshim bench -n $g4_runs, medians"
		# with/without of each A/B pair, for the spread
		pairs=$(python3 -c 'import json,sys
runs = json.load(open(sys.argv[1]))["runs"]
wo = [r["wall_s"] for r in runs if r["side"] == "without"]
wi = [r["wall_s"] for r in runs if r["side"] == "with"]
q = sorted(b / a for a, b in zip(wo, wi))
print("%.2f-%.2f" % (q[0], q[-1]) if q else "")' "$raw/g4.$s.json")
	else
		pairs=$(for r in $(seq "$nown"); do calc '%.4f' "$(field "$raw/g4.$s.with.$r" wall_ns) / $(field "$raw/g4.$s.without.$r" wall_ns)"; done |
			sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')
	fi
	wall_ratio=$(calc '%.3f' "$wall_with / $wall_without")
	row "4" "$s GiB demo linker: wall time, s ($src)" "$(calc '%.3f' "$wall_without / 1e9")" "$(calc '%.3f' "$wall_with / 1e9")" "${wall_ratio}x (pairs ${pairs}x)" "<= 1.0x" "$(verdict "$(le "$wall_ratio" 1.0)")"
	tail_ratio=$(calc '%.3f' "$tail_with / $tail_without")
	row "4" "$s GiB demo linker: spawn call -> end of run, ms (own sampler, median of $nown)" "$(calc '%.1f' "$tail_without / 1e6")" "$(calc '%.1f' "$tail_with / 1e6")" "${tail_ratio}x (pairs ${tail_pairs}x)" "<= 1.0x" "$(verdict "$(le "$tail_ratio" 1.0)")"
	exc_ok=$(awk -v e="$exc_with" -v t="$tree_with" -v o="$own_with" 'BEGIN { print (e <= 2048 && t <= o + 2048) ? 1 : 0 }')
	[ "${nsamp_with:-0}" -gt 0 ] || exc_ok=0
	row "4" "$s GiB demo linker: tree RSS while ar runs, MiB ($src)" "$(calc '%.1f' "$tree_without / 1024")" "$(calc '%.1f' "$tree_with / 1024")" \
		"$(calc '%.2fx' "$tree_with / $tree_without")" "<= ar + 2 MiB" "$(verdict "$exc_ok")"
	row "4" "$s GiB demo linker: ar's own RSS, MiB; tree - ar in the same sample, worst of $nown (own sampler)" \
		"$(calc '%.1f' "$own_without / 1024"); +$(calc '%.1f' "$exc_without / 1024")" "$(calc '%.1f' "$own_with / 1024"); +$(calc '%.1f' "$exc_with / 1024")" \
		"" "<= +2 MiB" "$(verdict "$exc_ok")"
done

# ---- goal 5: a whole parallel build ---------------------------------------
# Four demo linkers of 1 GiB under make -j4, measured by
# `arshim bench --hosts` (benches/build.sh, which also runs on its own).
BENCH_QUICK=$quick bash benches/build.sh || die "goal 5: benches/build.sh failed"
while IFS= read -r line; do rows+=("$line"); done <"$bench/build/rows.tsv"
[ "$quick" = 1 ] || cp "$bench/build.svg" benches/build.svg

# ---- goal 6: compilers that end with the system linker ---------------------
# ldc2 linking a big D program (converted) and a cargo workspace under
# `--hosts rustc` (refused), each by `arshim bench` (benches/links.sh, which
# also runs on its own).
BENCH_QUICK=$quick bash benches/links.sh || die "goal 6: benches/links.sh failed"
while IFS= read -r line; do rows+=("$line"); done <"$bench/links/rows.tsv"

# ---- the table ------------------------------------------------------------
date=$(date -u '+%Y-%m-%d %H:%M UTC')
cpumodel=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
glibc=$(ldd --version 2>/dev/null | head -n 1 | sed 's/.* //')
thp=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
machine="nproc $(nproc), kernel $(uname -r), ${cpumodel:-unknown CPU}, $mem RAM, glibc $glibc, THP $thp, load average at start $load0"
mode="full"
[ "$quick" = 1 ] && mode="quick (BENCH_QUICK=1)"

table() {
	printf '%s\n' "${rows[@]}" | awk -F '\t' '
		BEGIN { h[1] = "goal"; h[2] = "measurement"; h[3] = "baseline"; h[4] = "arshim"; h[5] = "ratio / diff"; h[6] = "target"; h[7] = "met" }
		{ n++; for (i = 1; i <= 7; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
		END {
			for (i = 1; i <= 7; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
			line = "|"; sep = "|"
			for (i = 1; i <= 7; i++) { line = line sprintf(" %-*s |", w[i], h[i]); s = ""; for (j = 0; j < w[i] + 2; j++) s = s "-"; sep = sep s "|" }
			print line; print sep
			for (r = 1; r <= n; r++) { line = "|"; for (i = 1; i <= 7; i++) line = line sprintf(" %-*s |", w[i], c[r, i]); print line }
		}'
}
{
	printf '## Benchmarks\n\n'
	printf 'Run: %s, %s, commit %s (working tree). Machine: %s.\n\n' "$date" "$mode" "$commit" "$machine"
	printf 'Reproduce: `make bench` (full: 1/4/8 GiB, <= 15 min on 2 cores) or `BENCH_QUICK=1 make bench` (1 GiB, fewer iterations).\n'
	printf 'Baselines: goal 1 = empty C library preloaded; goal 2 = no preload (arshim = preloaded, ARSHIM unset);\n'
	printf 'goal 3 = the same host without the shim; goal 4 = the demo linker without `arshim run`;\n'
	printf 'goal 5 = `make -j4` without arshim (arshim = `arshim bench --hosts demo-linker -- make -j4`);\n'
	printf 'goal 6 = ldc2 and cargo without arshim (arshim = `arshim bench [--hosts rustc]`, benches/links.sh).\n'
	printf 'Times are medians (goal 2: of interleaved blocks; diff = median paired difference +- its standard error); memory is RSS\n'
	printf 'sampled from /proc at %s Hz over the whole process tree (never ru_maxrss, which survives execve).\n\n' "$sample_hz"
	table
} >"$bench/RESULTS.table.md"
if [ "$quick" = 1 ]; then
	cp "$bench/RESULTS.table.md" "$bench/RESULTS.quick.md"
	say "quick run: table written to ${bench#"$root"/}/RESULTS.quick.md (benches/RESULTS.md keeps the last full run)"
else
	cp "$bench/RESULTS.table.md" benches/RESULTS.md
	say "table written to benches/RESULTS.md"
fi
printf '\n'
cat "$bench/RESULTS.table.md"

#!/usr/bin/env bash
# arshim benchmark, goal 6: compilers whose last act is the system linker
# (docs/DESIGN.md, "Compilers"), on generated programs of a realistic size,
# side by side in one run, each with `arshim bench` (medians of 3 pairs):
#
#  a. ldc2 linking an executable (final, converted): a D program of LINKS_D
#     functions (templates, CTFE tables; default 60) whose ldc2 holds
#     ~400 MiB while `cc` links it: the tree's memory while the linker runs,
#     its peak and the wall time, without and with.
#  b. a cargo workspace (two crates, three binaries, two integration tests,
#     dependencies serde_json and regex from the registry) built by
#     `cargo test --no-run -j2 --release` through
#     `arshim bench --hosts rustc`: rustc is a known non-final host, so the
#     with-side refuses every rustc (one line) and the numbers show what that
#     costs: nothing converts, the peak and the wall time are the build's own.
#     Each run first removes the workspace's own crates (`cargo clean -p`):
#     the dependencies stay built, the crates are compiled and linked again.
#
#   bash benches/links.sh        (also run by benches/run.sh / make bench)
#   BENCH_QUICK=1 bash benches/links.sh     one pair of runs instead of three
#
# Needs ldc2 and cargo (the registry, once, to fetch the dependencies).
# Writes target/bench/links/rows.tsv (rows of benches/run.sh's table) and
# target/bench/links/{d,cargo}.json.
set -eu

. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"
pairs=3
[ "$quick" = 1 ] && pairs=1
functions=${LINKS_D:-60}

arshim=$root/target/release/arshim
[ -x "$arshim" ] && [ -f "$root/target/release/libarshim.so" ] || die "target/release is incomplete: run make build first"
command -v ldc2 >/dev/null || die "ldc2 is not installed (Debian package ldc)"
command -v cargo >/dev/null || die "cargo is not installed"
command -v python3 >/dev/null || die "python3 is needed to read arshim bench --json"

links=$root/target/bench/links
rm -rf "$links"
mkdir -p "$links/d"
rows=$links/rows.tsv
: >"$rows"

# ---- a. the D program --------------------------------------------------------
# Each function instantiates a struct template and a range pipeline over a
# table computed at compile time (CTFE): ldc2's memory grows with both and
# is all still held when it spawns the link.
gen_d() {
	local n=$1 i
	echo 'module big;'
	echo 'import std.stdio, std.algorithm, std.format;'
	echo 'ulong[] table(ulong seed, size_t len) { ulong[] t; ulong x = seed; foreach (i; 0 .. len) { x = x * 6364136223846793005UL + 1442695040888963407UL; t ~= x >> 33; } return t; }'
	echo 'struct Box(T, size_t N) { T[N] items; T sum() const { T s = 0; foreach (x; items) s += x; return s; } }'
	for i in $(seq 0 $((n - 1))); do
		echo "enum ulong[] t$i = table($i, 400);"
		echo "ulong f$i() { Box!(ulong, $((i % 50 + 1))) b; foreach (k, ref x; b.items) x = t$i[k % t$i.length]; return b.sum() + t$i.map!(a => a % 7).filter!(a => a > 2).sum + format(\"%s-%d\", \"f$i\", t$i[3]).length; }"
	done
	echo 'void main() { ulong s = 0;'
	for i in $(seq 0 $((n - 1))); do echo "s += f$i();"; done
	echo 'writeln(s); }'
}
gen_d "$functions" >"$links/d/big.d"

# ---- b. the cargo workspace --------------------------------------------------
gen_cargo() {
	local ws=$1
	mkdir -p "$ws/util/src" "$ws/app/src/bin" "$ws/app/tests"
	printf '[workspace]\nmembers = ["util", "app"]\nresolver = "2"\n' >"$ws/Cargo.toml"
	printf '[package]\nname = "util"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nregex = "1"\n' >"$ws/util/Cargo.toml"
	cat >"$ws/util/src/lib.rs" <<'EOF'
pub fn words(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"[A-Za-z]+").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_lowercase()).collect()
}
EOF
	printf '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nutil = { path = "../util" }\nserde_json = "1"\n' >"$ws/app/Cargo.toml"
	cat >"$ws/app/src/lib.rs" <<'EOF'
pub fn report(text: &str) -> String {
    let words = util::words(text);
    serde_json::json!({ "count": words.len(), "words": words }).to_string()
}
EOF
	for b in one two three; do
		printf 'fn main() {\n    println!("{}", app::report("%s: the quick brown fox"));\n}\n' "$b" >"$ws/app/src/bin/$b.rs"
	done
	for t in first second; do
		printf '#[test]\nfn %s() {\n    assert!(app::report("a b").contains("\\"count\\":2"));\n}\n' "$t" >"$ws/app/tests/$t.rs"
	done
}
gen_cargo "$links/ws"
(cd "$links/ws" && cargo fetch -q) || die "cargo fetch failed (the registry is needed once)"
# The dependencies are built once, outside the measurement.
(cd "$links/ws" && cargo test --no-run -j2 --release -q 2>/dev/null) || die "the cargo workspace does not build"

# ---- the measurements --------------------------------------------------------
bench() { # name dir args...
	local name=$1 dir=$2
	shift 2
	(cd "$dir" && env -u LD_PRELOAD -u MAKEFLAGS -u CARGO_MAKEFLAGS "$arshim" bench -n "$pairs" --json "$@") \
		>"$links/$name.json" 2>"$links/$name.log" || die "goal 6 ($name): arshim bench failed: $(tail -n 5 "$links/$name.log")"
}
say "goal 6a: ldc2 links a D program of $functions functions, $pairs pair(s): arshim bench -- ldc2 big.d -of=big"
bench d "$links/d" -- ldc2 big.d -of=big
[ "$("$links/d/big")" != "" ] || die "goal 6a: the linked program does not run"
say "goal 6b: cargo test --no-run -j2 --release on a workspace, $pairs pair(s): arshim bench --hosts rustc"
bench cargo "$links/ws" --hosts rustc -- sh -c 'cargo clean -q --release -p util -p app && cargo test --no-run -j2 --release -q'

python3 - "$links" "$functions" >>"$rows" <<'EOF'
import json, sys
links, functions = sys.argv[1:3]
def row(*cells):
    print("\t".join(str(c) for c in cells) + "\t")
mib = lambda kib: "" if kib is None else f"{kib / 1024:.0f}"
for name, what in [("d", f"ldc2 -of=exe, {functions}-function D program (converted)"),
                   ("cargo", "cargo test --no-run -j2 --release, --hosts rustc (refused)")]:
    d = json.load(open(f"{links}/{name}.json"))
    m, r, n = d["median"], d["ratio"], len(d["runs"]) // 2
    ok = "ok" if d["ok"] else "PROBLEMS"
    held = m["without"]["held_during_archiver_kib"], m["with"]["held_during_archiver_kib"]
    if held[0] is not None and held[1] is not None:
        row("6", f"{what}: tree RSS while the linker ran, MiB (median of {n})", mib(held[0]), mib(held[1]),
            f"{held[1] / held[0]:.2f}x", "measure", ok)
    row("6", f"{what}: peak tree RSS, MiB (median of {n})", mib(m["without"]["peak_kib"]),
        mib(m["with"]["peak_kib"]), f"{r['peak']:.2f}x", "measure", ok)
    row("6", f"{what}: wall time, s", f"{m['without']['wall_s']:.2f}", f"{m['with']['wall_s']:.2f}",
        f"{r['wall']:.3f}x", "measure", "")
EOF
cut -f2-5 "$rows" | sed 's/\t/ | /g' >&2

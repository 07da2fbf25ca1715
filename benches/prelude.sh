# Sourced by every script of benches/: messages, the repository root as the
# working directory, and BENCH_QUICK read the same way.
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'bench: %s\n' "$*" >&2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

quick=${BENCH_QUICK:-0}
case $quick in 0 | '') quick=0 ;; *) quick=1 ;; esac

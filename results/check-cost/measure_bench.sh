#!/bin/sh
# The same check cost measured the way the benchmark replays the trace: the `bench` worker's
# Replay job (every payload patterned and checked, one timed repetition after the verification
# pass) for a heap (default "bareheap FirstFit"), under valgrind callgrind, once as built and once with
# strip_checks.py applied to a copy of the repository. Prints each build's instructions in
# `bench::run::replay` (inclusive) and in the whole process.
# Usage: results/check-cost/measure_bench.sh ["bareheap FirstFit" | "bareheap Tlsf"]
# (needs valgrind, python3, git)
set -eu
heap=${1:-bareheap FirstFit}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${TMPDIR:-/tmp}/bareheap-check-cost-bench
rm -rf "$work" && mkdir -p "$work/src"
git -C "$root" archive HEAD | tar -x -C "$work/src"
python3 "$here/strip_checks.py" "$work/src/crates/bareheap"
job='{"kind":"Replay","trace":"'"$root"'/bench/traces/serde_json.bhtrace","reps":1,"arena":27262976}'
(cd "$root/bench" && cargo build --release -q --bin bench)
(cd "$work/src/bench" && CARGO_TARGET_DIR="$work/target" cargo build --release -q --bin bench 2>/dev/null)
for v in checks:"$root/target/release/bench" nochecks:"$work/target/release/bench"; do
    name=${v%%:*}; exe=${v#*:}
    valgrind --tool=callgrind --callgrind-out-file="$work/$name.cg" "$exe" worker \
        --alloc "$heap" --job "$job" >/dev/null 2>"$work/$name.log"
    total=$(sed -n 's/.*Collected : //p' "$work/$name.log")
    replay=$(callgrind_annotate --inclusive=yes "$work/$name.cg" 2>/dev/null \
        | grep -m1 'run.rs:bench::run::replay' | awk '{print $1}')
    echo "$heap, $name: replay $replay, process $total"
done

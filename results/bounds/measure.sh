#!/bin/sh
# Instructions of one allocate and one deallocate (callgrind, deterministic) in a heap with
# 0 to 6,000 free 32-byte holes below the only block that fits (worst_op.rs): RELIABILITY.md
# P5. First-fit's count grows with the holes; TLSF's must not. Last line: Tlsf's longest
# allocation (its failure path, see worst_op.rs).
# Usage: results/bounds/measure.sh   (needs valgrind)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${TMPDIR:-/tmp}/bareheap-worst-op
mkdir -p "$work/src"
cp "$here/worst_op.rs" "$work/src/main.rs"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "worst_op"
version = "0.0.0"
edition = "2021"
[dependencies]
bareheap = { path = "$root/crates/bareheap" }
[workspace]
TOML
(cd "$work" && cargo build --release -q)
echo "heap | holes | allocate | deallocate (instructions)"
for heap in FirstFit Tlsf; do
    for holes in 0 10 100 1000 6000; do
        counts=""
        for op in op_allocate op_deallocate; do
            n=$(valgrind --tool=callgrind --toggle-collect="worst_op::$op*" \
                --callgrind-out-file=/dev/null "$work/target/release/worst_op" "$heap" "$holes" 2>&1 |
                sed -n 's/.*Collected : //p')
            counts="$counts | $n"
        done
        echo "$heap | $holes$counts"
    done
done
counts=""
for op in op_allocate op_deallocate; do
    n=$(valgrind --tool=callgrind --toggle-collect="worst_op::$op*" \
        --callgrind-out-file=/dev/null "$work/target/release/worst_op" TlsfThird 0 2>&1 |
        sed -n 's/.*Collected : //p')
    counts="$counts | $n"
done
echo "Tlsf, only the 3rd block of the own class fits | -$counts"

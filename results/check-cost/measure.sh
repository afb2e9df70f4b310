#!/bin/sh
# The cost of FirstFit's default-tier checks (RELIABILITY.md P6): instructions, counted by
# valgrind callgrind, to replay bench/traces/serde_json.bhtrace through FirstFit directly
# (allocate, deallocate, grow, shrink; no payload writes), with the checks and with them
# removed (strip_checks.py). Deterministic: the machine's load does not matter.
# Usage: results/check-cost/measure.sh   (needs valgrind and python3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${TMPDIR:-/tmp}/bareheap-check-cost
rm -rf "$work"
for v in checks nochecks; do
    mkdir -p "$work/$v/src"
    cp "$here/replay.rs" "$work/$v/src/main.rs"
done
cp -r "$root/crates/bareheap" "$work/nochecks/bareheap"
python3 "$here/strip_checks.py" "$work/nochecks/bareheap"
for v in checks nochecks; do
    dep="$root/crates/bareheap"
    [ "$v" = nochecks ] && dep="$work/nochecks/bareheap"
    cat > "$work/$v/Cargo.toml" <<TOML
[package]
name = "ffcost"
version = "0.0.0"
edition = "2021"
[dependencies]
bareheap = { path = "$dep" }
[profile.release]
debug = 1
[workspace]
TOML
    # The copied crate inherits nothing from the workspace.
    if [ "$v" = nochecks ]; then
        sed -i 's/^edition.workspace = true/edition = "2021"/; /^license.workspace/d; /^repository.workspace/d; /^\[lints\]/,/^workspace = true/d' "$dep/Cargo.toml"
    fi
    (cd "$work/$v" && cargo build --release -q)
    valgrind --tool=callgrind --toggle-collect='ffcost::replay' \
        --callgrind-out-file="$work/$v.cg" "$work/$v/target/release/ffcost" \
        "$root/bench/traces/serde_json.bhtrace" 2>&1 | sed -n "s/.*Collected : /$v: /p"
done

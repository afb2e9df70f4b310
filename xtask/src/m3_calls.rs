//! `cargo xtask m3-calls <bin>`: the Cortex-M3 instruction count of every call of one firmware
//! binary, each named by its request.
//!
//! The firmware (`bench/cortex-m`) measures its calls in sequence order but records only their
//! kind and count. The request behind each call follows from the seeded sequence alone: this
//! module replays it with the firmware's own draws (`bench/cortex-m/src/sequence.rs`, included
//! by `#[path]`) and a table of slot sizes, and pairs the n-th call of each kind with the n-th
//! request of that kind. Printed: the most expensive calls of each kind with their request, and
//! the mean per alignment and size class; `--csv` writes every call.
//!
//! Only the main sequence's binaries (not `small_*`, which run another sequence). The counts
//! are the `cargo xtask bench` ones (opt-level "s", two identical runs, marker overhead
//! subtracted).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::report::Report;
use crate::size::{self, KIND_ALLOC, KIND_FREE, KIND_REALLOC};

#[path = "../../bench/cortex-m/src/sequence.rs"]
#[allow(dead_code)] // The firmware's per-draw functions; only `Sequence` is used here.
mod sequence;

use sequence::{Request, Sequence};

/// One measured call and its request.
struct Call {
    /// The sequence step (0-based).
    step: u32,
    slot: usize,
    /// The block's size before the call (the request's size for an alloc).
    size: usize,
    align: usize,
    /// A realloc's new size.
    new_size: Option<usize>,
    /// Blocks live before the call.
    live: usize,
    /// The step that allocated the block a free or realloc works on.
    born: u32,
    insns: u64,
}

impl Call {
    fn describe(&self) -> String {
        let mut s = match self.new_size {
            Some(n) => format!("{} -> {n} B", self.size),
            None => format!("{} B", self.size),
        };
        let _ = write!(s, ", align {}, slot {}, {} live", self.align, self.slot, self.live);
        if self.step != self.born {
            let _ = write!(s, ", block from step {}", self.born);
        }
        s
    }
}

/// The requests of the main sequence by kind, in order: `(step, slot, request, size, align,
/// live blocks, birth step)` folded into [`Call`]s with no count yet.
fn requests() -> BTreeMap<u32, Vec<Call>> {
    // Per slot: (size, align, birth step) of its block.
    let mut slots: [Option<(usize, usize, u32)>; sequence::SLOTS] = [None; sequence::SLOTS];
    let mut seq = Sequence::new();
    let mut calls: BTreeMap<u32, Vec<Call>> = BTreeMap::new();
    for step in 0..sequence::OPS {
        let (slot, request) = seq.next(|i| slots[i].map(|(size, ..)| size));
        let live = slots.iter().flatten().count();
        let (kind, size, align, new_size, born) = match (request, slots[slot]) {
            (Request::Alloc { size, align }, _) => {
                slots[slot] = Some((size, align, step));
                (KIND_ALLOC, size, align, None, step)
            }
            (Request::Free, Some((size, align, born))) => {
                slots[slot] = None;
                (KIND_FREE, size, align, None, born)
            }
            (Request::Realloc { new_size }, Some((size, align, born))) => {
                slots[slot] = Some((new_size, align, born));
                (KIND_REALLOC, size, align, Some(new_size), born)
            }
            // `next` asks for an alloc exactly when the slot is empty.
            (_, None) => unreachable!("free or realloc of an empty slot"),
        };
        let call = Call { step, slot, size, align, new_size, live, born, insns: 0 };
        calls.entry(kind).or_default().push(call);
    }
    calls
}

/// Size classes of the sequence (bytes, inclusive upper ends).
const SIZE_CLASSES: [usize; 5] = [32, 128, 512, 2048, sequence::MAX_SIZE];

/// Runs `bin` on the Cortex-M3 and prints its calls by request.
pub fn m3_calls(report: &mut Report, bin: &str, top: usize, csv: Option<&Path>) {
    if bin.starts_with("small_") {
        println!("m3-calls: {bin} runs the small-object sequence; only the main one is replayed");
        report.skip(&format!("m3-calls {bin}"), "small-object sequence not replayed");
        return;
    }
    let Some((counts, stopped)) = size::calls_of(report, &size::CORES[0], bin) else { return };
    let start = Instant::now();
    let mut requests = requests();
    let mut ok = true;
    let mut text = String::new();
    let mut rows = String::from("step,op,slot,size,new_size,align,live,born,insns\n");
    for (kind, name) in [(KIND_ALLOC, "alloc"), (KIND_FREE, "free"), (KIND_REALLOC, "realloc")] {
        let calls = requests.remove(&kind).unwrap_or_default();
        let measured = counts.get(&kind).map_or(&[][..], Vec::as_slice);
        // As many calls as requests, or fewer if the run stopped at a refusal (a bump
        // allocator): anything else means the replay is not the firmware's sequence.
        if measured.len() > calls.len() || (measured.len() < calls.len() && !stopped) {
            println!("FAIL: {} {name} counts for {} requests", measured.len(), calls.len());
            ok = false;
            continue;
        }
        let calls: Vec<Call> =
            calls.into_iter().zip(measured).map(|(c, &insns)| Call { insns, ..c }).collect();
        for c in &calls {
            let new = c.new_size.map_or(String::new(), |n| n.to_string());
            let _ = writeln!(
                rows,
                "{},{name},{},{},{new},{},{},{},{}",
                c.step, c.slot, c.size, c.align, c.live, c.born, c.insns
            );
        }
        summarize(&mut text, name, &calls, top);
    }
    println!("\n{} {bin} (opt-level s), instructions per call:\n{text}", size::CORES[0].title);
    if let Some(path) = csv {
        if let Err(e) = std::fs::write(path, rows) {
            println!("cannot write {}: {e}", path.display());
            ok = false;
        }
    }
    report.record(&format!("m3-calls {bin}"), ok, start);
}

/// The top calls and the class means of one kind.
fn summarize(t: &mut String, name: &str, calls: &[Call], top: usize) {
    let Some(max) = calls.iter().map(|c| c.insns).max() else {
        let _ = writeln!(t, "{name}: no calls\n");
        return;
    };
    let _ = writeln!(t, "{name}: {} calls, mean {:.1}, max {max}", calls.len(), mean(calls.iter()));
    let mut by_cost: Vec<&Call> = calls.iter().collect();
    // The most expensive first; ties in sequence order.
    by_cost.sort_by_key(|c| (std::cmp::Reverse(c.insns), c.step));
    for c in by_cost.iter().take(top) {
        let _ = writeln!(t, "  {:>5}  step {:>4}: {name} {}", c.insns, c.step, c.describe());
    }
    let mut line = String::from("  mean by alignment:");
    for align in [1, 4, 8, 16, 32, 64] {
        class(&mut line, &align.to_string(), calls.iter().filter(|c| c.align == align));
    }
    let _ = writeln!(t, "{line}");
    let what = if name == "realloc" { "new size" } else { "size" };
    let mut line = format!("  mean by {what}:");
    let mut lo = 1;
    for hi in SIZE_CLASSES {
        let in_class = |c: &&Call| (lo..=hi).contains(&c.new_size.unwrap_or(c.size));
        class(&mut line, &format!("{lo}..={hi}"), calls.iter().filter(in_class));
        lo = hi + 1;
    }
    let _ = writeln!(t, "{line}");
    if name == "realloc" {
        let mut line = String::from("  mean by direction:");
        class(&mut line, "grow", calls.iter().filter(|c| c.new_size > Some(c.size)));
        class(&mut line, "same", calls.iter().filter(|c| c.new_size == Some(c.size)));
        class(&mut line, "shrink", calls.iter().filter(|c| c.new_size < Some(c.size)));
        let _ = writeln!(t, "{line}");
    }
    t.push('\n');
}

/// Appends `  label: mean (n N)` for a non-empty class.
fn class<'a>(line: &mut String, label: &str, calls: impl Iterator<Item = &'a Call> + Clone) {
    let n = calls.clone().count();
    if n > 0 {
        let _ = write!(line, "  {label}: {:.1} (n {n})", mean(calls));
    }
}

fn mean<'a>(calls: impl Iterator<Item = &'a Call>) -> f64 {
    let (n, sum) = calls.fold((0u64, 0u64), |(n, s), c| (n + 1, s + c.insns));
    if n == 0 {
        0.0
    } else {
        sum as f64 / n as f64
    }
}

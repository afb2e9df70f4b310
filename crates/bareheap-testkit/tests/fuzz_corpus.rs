//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the same entry points
//! the cargo-fuzz targets call, plus random inputs, so every `cargo test` re-checks what the
//! fuzzers found interesting, without needing cargo-fuzz or a nightly compiler.

use std::path::PathBuf;

use bareheap_testkit::fuzzing::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

#[test]
fn fuzz_corpus_every_target_has_a_committed_corpus_that_replays_clean() {
    for &(name, entry) in TARGETS {
        let dir = corpus_dir(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!("no corpus for fuzz target {name} at {}: {e}", dir.display())
            })
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        let limit = if cfg!(miri) { 2 } else { files.len() };
        assert!(!files.is_empty(), "empty corpus for fuzz target {name}");
        for path in files.iter().take(limit) {
            let data = std::fs::read(path).expect("corpus file");
            let r = std::panic::catch_unwind(|| entry(&data));
            assert!(r.is_ok(), "fuzz target {name} fails on corpus file {}", path.display());
        }
    }
}

#[test]
fn fuzz_entry_points_random_inputs_pass() {
    let inputs = if cfg!(miri) { 1 } else { 40 };
    let mut rng = fastrand::Rng::with_seed(0xf022);
    for &(name, entry) in TARGETS {
        for i in 0..inputs {
            let len = rng.usize(0..4096);
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let r = std::panic::catch_unwind(|| entry(&data));
            assert!(r.is_ok(), "fuzz target {name} fails on random input {i} (seed 0xf022)");
        }
    }
}

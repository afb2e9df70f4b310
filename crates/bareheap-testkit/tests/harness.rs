//! Tests of the testkit itself: the generators follow their documented distributions, a
//! correct heap passes, and every planted fault is caught (negative controls).

use core::alloc::Layout;

use bareheap::Claim;
use bareheap_testkit::faulty::{fault, Faulty};
use bareheap_testkit::{
    decode, program, run, Arena, Config, GenConfig, Op, OpGen, RefHeap, RegionSpec, Rig,
};

/// Operations per negative-control run: enough for every planted fault to fire many times.
const OPS: usize = if cfg!(miri) { 1_500 } else { 20_000 };

fn faulty_run<const F: u8>() {
    // Validating every 4th call keeps the debug run short; the faults are caught by the shadow.
    let cfg = Config {
        reserve: 64 << 10,
        validate_every: 4,
        ..Config::labelled(format!("fault {F}, seed 1"))
    };
    let gen = GenConfig { claim_per_mille: 5, ..GenConfig::default() };
    let ops = OpGen::with_config(1, gen).take(OPS);
    run(Faulty::<F>::new(), ops, &[RegionSpec::new(256 << 10)], cfg);
}

#[test]
fn program_same_seed_gives_same_ops_and_other_seed_differs() {
    assert_eq!(program(9, 1000), program(9, 1000));
    assert_ne!(program(9, 1000), program(10, 1000));
}

#[test]
fn generator_follows_documented_distributions() {
    let (mut sizes, mut aligns) = (Vec::new(), Vec::new());
    let mut kinds = [0usize; 5];
    for op in
        OpGen::with_config(3, GenConfig { claim_per_mille: 10, ..Default::default() }).take(100_000)
    {
        match op {
            Op::Alloc { size, align_log2 } => {
                sizes.push(size);
                aligns.push(align_log2);
                kinds[0] += 1;
            }
            Op::Free { .. } => kinds[1] += 1,
            Op::Grow { .. } => kinds[2] += 1,
            Op::Shrink { .. } => kinds[3] += 1,
            Op::Claim { .. } => kinds[4] += 1,
        }
    }
    let n = sizes.len() as f64;
    let share = |f: &dyn Fn(usize) -> bool| sizes.iter().filter(|&&s| f(s)).count() as f64 / n;
    assert!(share(&|s| s <= 64) > 0.55, "small sizes dominate");
    assert!(share(&|s| s > 4096) > 0.01, "a tail past 4 KiB exists");
    assert!(sizes.iter().all(|&s| s <= 64 << 10), "capped at 64 KiB");
    for k in [8u32, 12, 15] {
        for s in [(1usize << k) - 1, 1 << k, (1 << k) + 1] {
            assert!(sizes.contains(&s), "size-class edge {s} generated");
        }
    }
    let a = aligns.len() as f64;
    let ashare = |f: &dyn Fn(u8) -> bool| aligns.iter().filter(|&&x| f(x)).count() as f64 / a;
    assert!(ashare(&|x| x <= 4) > 0.8, "alignments mostly <= 16");
    assert!(ashare(&|x| x >= 8) > 0.03, "some page-like alignments");
    assert!(aligns.iter().all(|&x| x <= 12), "alignment capped at 4096");
    assert!(kinds.iter().all(|&k| k > 500), "every kind of op is generated: {kinds:?}");
}

#[test]
fn decode_any_bytes_gives_a_program_reaching_extreme_layouts() {
    assert!(decode(&[]).is_empty());
    let mut rng = fastrand::Rng::with_seed(5);
    let bytes: Vec<u8> = (0..200_000).map(|_| rng.u8(..)).collect();
    let ops = decode(&bytes);
    assert!(ops.len() > 5_000);
    let max_align = ops
        .iter()
        .filter_map(|op| match op {
            Op::Alloc { align_log2, .. } => Some(*align_log2),
            _ => None,
        })
        .max();
    assert_eq!(max_align, Some(usize::BITS as u8), "alignments up to and past 2^(BITS-1)");
    assert!(ops
        .iter()
        .any(|op| matches!(op, Op::Alloc { size, .. } if *size > isize::MAX as usize / 2)));
}

#[test]
fn refheap_random_program_with_claims_passes_every_check() {
    let cfg =
        Config { reserve: 128 << 10, validate_every: 4, ..Config::labelled("RefHeap seed 2") };
    let gen = GenConfig { claim_per_mille: 5, ..GenConfig::default() };
    let regions = [RegionSpec::new(128 << 10), RegionSpec { len: 4097, offset: 3 }];
    let stats = run(RefHeap::new(), OpGen::with_config(2, gen).take(OPS), &regions, cfg);
    eprintln!("RefHeap: {stats}");
    assert_eq!(stats.ops, OPS as u64);
    assert!(stats.allocs > stats.alloc_failed * 2, "most allocations succeed: {stats}");
    assert!(stats.grows_in_place > 0 && stats.grows > stats.grows_in_place, "{stats}");
    assert!(stats.claims > 2 && stats.claims_rejected > 0, "{stats}");
    assert!(stats.validations >= OPS as u64 / 8 && stats.pristine_checks == 1, "{stats}");
}

#[test]
fn refheap_rounds_check_pristine_each_round() {
    let cfg = Config { round_len: 1_000, ..Config::labelled("RefHeap rounds") };
    let stats = run(RefHeap::new(), program(4, 5_000), &[RegionSpec::new(64 << 10)], cfg);
    assert_eq!(stats.pristine_checks, 6, "5 rounds and the final check");
}

#[test]
fn capacity_profile_of_fresh_refheap_is_one_block_per_region() {
    let mut rig = Rig::with_regions(
        RefHeap::new(),
        &[RegionSpec::new(4096), RegionSpec::new(1000)],
        Config::default(),
    );
    assert_eq!(rig.capacity_profile(), vec![4096, 992]);
}

#[test]
#[should_panic(expected = "overlap")]
fn rig_with_overlapping_heap_reports_overlap() {
    faulty_run::<{ fault::OVERLAP }>();
}

#[test]
#[should_panic(expected = "misaligned")]
fn rig_with_misaligning_heap_reports_misaligned() {
    faulty_run::<{ fault::MISALIGN }>();
}

#[test]
#[should_panic(expected = "out of bounds")]
fn rig_with_heap_returning_foreign_memory_reports_out_of_bounds() {
    faulty_run::<{ fault::OUTSIDE }>();
}

#[test]
#[should_panic(expected = "contents")]
fn rig_with_short_grow_copy_reports_contents() {
    faulty_run::<{ fault::SHORT_COPY }>();
}

#[test]
#[should_panic(expected = "E3: not pristine")]
fn rig_with_leaking_heap_reports_not_pristine() {
    faulty_run::<{ fault::LEAK }>();
}

#[test]
#[should_panic(expected = "guard byte changed")]
fn rig_with_heap_writing_before_region_reports_guard() {
    faulty_run::<{ fault::WRITE_BEFORE_REGION }>();
}

#[test]
#[should_panic(expected = "guard byte changed")]
fn rig_with_heap_writing_refused_region_reports_guard() {
    let mut rig = Rig::new(Faulty::<{ fault::WRITE_THEN_REFUSE }>::new(), Config::default());
    assert!(rig.claim(RegionSpec::new(4096)).is_err());
    rig.check_guards();
}

#[test]
#[should_panic(expected = "validate: heap corruption")]
fn rig_with_failing_validate_reports_it() {
    faulty_run::<{ fault::VALIDATE_FAILS }>();
}

#[test]
#[should_panic(expected = "contents")]
fn rig_with_heap_scribbling_on_live_blocks_reports_contents() {
    faulty_run::<{ fault::SCRIBBLE }>();
}

#[test]
#[should_panic(expected = "unknown block")]
fn rig_free_of_a_block_twice_is_refused_before_the_heap_sees_it() {
    let mut rig = Rig::with_regions(RefHeap::new(), &[RegionSpec::new(4096)], Config::default());
    let b = rig.alloc(Layout::new::<u64>()).unwrap();
    rig.free(b);
    rig.free(b);
}

#[test]
fn arena_check_finds_a_write_in_each_guard_and_in_a_refused_range() {
    for (offset, at) in [(0usize, -1isize), (0, 100), (0, 64), (10, 5)] {
        let mut arena = Arena::new(100);
        // SAFETY: no heap uses the region; the write below stays inside the arena allocation.
        let region = unsafe { arena.region(offset, 50) }.unwrap();
        if at == 5 {
            // A refused range must be ungiven so its bytes are checked again.
            arena.ungive(offset);
        }
        let p = region.base().as_ptr().wrapping_offset(at - offset as isize);
        // SAFETY: `p` is inside the arena allocation (front guard, data or back guard), and
        // nothing else accesses it.
        unsafe { p.write(!p.read()) };
        assert_eq!(arena.first_changed(), Some(at), "write at data offset {at}");
    }
    // A write inside a given range is the heap's business.
    let mut arena = Arena::new(100);
    // SAFETY: as above.
    let region = unsafe { arena.region(0, 50) }.unwrap();
    // SAFETY: inside the given range.
    unsafe { region.base().as_ptr().add(49).write(0) };
    assert_eq!(arena.first_changed(), None);
}

#[test]
fn refheap_claim_of_overlapping_region_is_refused() {
    let mut arena = Arena::new(4096);
    let mut heap = RefHeap::new();
    // SAFETY: the heap (dropped first, declared later) does not outlive the arena.
    let a = unsafe { arena.region(0, 2048) }.unwrap();
    assert_eq!(heap.claim(a), Ok(2048));
    // Build an overlapping region by hand (the arena refuses to give a range twice).
    // SAFETY: refused by the heap before any access.
    let b =
        unsafe { bareheap::Region::new(arena.data().as_ptr().wrapping_add(1024), 2048) }.unwrap();
    assert_eq!(heap.claim(b), Err(bareheap::RegionError::Overlap));
}

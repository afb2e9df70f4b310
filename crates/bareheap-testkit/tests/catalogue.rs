//! Catalogue tests: one or more `cat_<row>_<what>` test per row of `RELIABILITY.md` §3 that
//! the foundation covers (A1-A5, B1-B4, D1-D5, E1, E3, F4, J1), each run against every heap
//! it applies to (a module per test, a function per heap: `cat_a1_...::first_fit`).
//!
//! `RefHeap` (the testkit's reference heap) runs every generic test too: a catalogue test that
//! fails on it is a bug in the test, not in a heap.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use bareheap::{Bump, CriticalSection, HeapMemory, Locked, RawLock, Region, RegionError, Spin};
use bareheap_testkit::{program, Arena, Config, RegionSpec, Rig, TestHeap};

/// Miri runs every test, but over a thinned-out parameter space.
const MIRI: bool = cfg!(miri);

/// Every `step`-th element under Miri, all of them otherwise.
fn thin<T>(it: impl IntoIterator<Item = T>, miri_step: usize) -> impl Iterator<Item = T> {
    it.into_iter().step_by(if MIRI { miri_step } else { 1 })
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn new_rig<H: TestHeap>(len: usize, label: &str) -> Rig<H> {
    Rig::with_regions(H::empty(), &[RegionSpec::new(len)], Config::labelled(label))
}

/// Instantiates generic test functions for each heap: `mod name { fn first_fit, bump, reference }`.
macro_rules! for_each_heap {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn first_fit() {
                super::$name::<bareheap::FirstFit>();
            }
            #[test]
            fn bump() {
                super::$name::<bareheap::Bump>();
            }
            #[test]
            fn tlsf() {
                super::$name::<bareheap::Tlsf>();
            }
            #[test]
            fn reference() {
                super::$name::<bareheap_testkit::RefHeap>();
            }
        }
    )*};
}

/// The same, for tests that also take a lock type: `mod name { fn first_fit_spin, ... }`.
macro_rules! for_each_heap_and_lock {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::{spin, cs};
            #[test]
            fn first_fit_spin() {
                super::$name::<_, bareheap::FirstFit>(spin());
            }
            #[test]
            fn first_fit_critical_section() {
                super::$name::<_, bareheap::FirstFit>(cs());
            }
            #[test]
            fn bump_spin() {
                super::$name::<_, bareheap::Bump>(spin());
            }
            #[test]
            fn bump_critical_section() {
                super::$name::<_, bareheap::Bump>(cs());
            }
            #[test]
            fn tlsf_spin() {
                super::$name::<_, bareheap::Tlsf>(spin());
            }
            #[test]
            fn tlsf_critical_section() {
                super::$name::<_, bareheap::Tlsf>(cs());
            }
            #[test]
            fn reference_spin() {
                super::$name::<_, bareheap_testkit::RefHeap>(spin());
            }
        }
    )*};
}

/// An identifier of the calling thread, for `Spin::with_core_id`.
fn thread_id() -> usize {
    std::thread_local!(static ID: u8 = const { 0 });
    ID.with(|id| ptr::from_ref(id).addr())
}

fn spin() -> Spin {
    Spin::with_core_id(thread_id)
}

fn cs() -> CriticalSection {
    CriticalSection::new()
}

/// A `Locked` heap with its arena. `heap` is declared first, so it is dropped before `arena`.
struct Shared<L: RawLock, H> {
    heap: Locked<L, H>,
    arena: Arena,
    region: (usize, usize),
}

impl<L: RawLock, H: TestHeap> Shared<L, H> {
    fn new(lock: L, len: usize) -> Self {
        let heap = Locked::with_lock(lock, H::empty());
        let mut arena = Arena::new(len);
        // SAFETY: `heap` is dropped before `arena` (field order) and the arena is never refilled.
        let region = unsafe { arena.region(0, len) }.unwrap();
        let start = region.base().as_ptr().addr();
        heap.claim(region).unwrap();
        Shared { heap, arena, region: (start, start + len) }
    }

    /// Checks a `GlobalAlloc` result: null, or aligned and inside the region; fills it.
    fn check(&self, p: *mut u8, layout: Layout, fill: u8) -> bool {
        if p.is_null() {
            return false;
        }
        let (s, e) = self.region;
        let a = p.addr();
        assert_eq!(a % layout.align(), 0, "misaligned: {a:#x} for {layout:?}");
        assert!(
            a >= s && a.checked_add(layout.size()).is_some_and(|end| end <= e),
            "out of bounds: {a:#x} for {layout:?}"
        );
        // SAFETY: the block is inside our arena and was just handed out for `layout.size()` bytes.
        unsafe { ptr::write_bytes(p, fill, layout.size()) };
        true
    }

    fn validate(&self) {
        self.heap.lock(|h| h.validate()).expect("not re-entered").expect("validate");
    }
}

// ---------------------------------------------------------------------------------------------
// A. Arena, initialization, growth

for_each_heap!(
    cat_a1_region_smaller_than_min_is_refused_and_nothing_outside_is_written,
    cat_a2_misaligned_region_is_trimmed_and_nothing_outside_is_written,
    cat_a3_null_wrapping_and_top_of_memory_regions_are_refused_without_writing,
    cat_a4_second_claim_of_the_same_or_overlapping_memory_is_refused,
    cat_a4_adjacent_regions_never_give_overlapping_blocks,
    cat_a5_allocation_before_claim_returns_none,
);

fn cat_a1_region_smaller_than_min_is_refused_and_nothing_outside_is_written<H: TestHeap>() {
    // Every length up to 4 minimums at every base offset mod 64: refused below REFUSED_BELOW,
    // accepted from MIN_REGION on; either way no byte outside the region changes, and a refused
    // region is not written at all (its bytes are checked as guard bytes too).
    let max_len = (4 * H::MIN_REGION).max(64);
    let (mut accepted, mut refused) = (0, 0);
    for offset in thin(0..64, 13) {
        for len in thin(0..=max_len, 17) {
            let label = format!("A1 offset {offset} len {len}");
            let mut rig = Rig::new(H::empty(), Config::labelled(label));
            match rig.claim(RegionSpec { len, offset }) {
                Ok(usable) => {
                    accepted += 1;
                    assert!(
                        len >= H::REFUSED_BELOW,
                        "{}: a {len}-byte region at offset {offset} was accepted (REFUSED_BELOW {})",
                        H::NAME,
                        H::REFUSED_BELOW
                    );
                    assert!(usable > 0 && usable <= len, "usable {usable} of {len}");
                    let b = rig.alloc(layout(usable, 1));
                    let b =
                        b.unwrap_or_else(|| panic!("{}: usable {usable} does not fit", H::NAME));
                    rig.free(b);
                }
                Err(e) => {
                    refused += 1;
                    assert!(matches!(e, RegionError::TooSmall { .. }), "len {len}: {e:?}");
                    assert!(
                        len < H::MIN_REGION,
                        "{}: a {len}-byte region at offset {offset} was refused (MIN_REGION {}): {e}",
                        H::NAME,
                        H::MIN_REGION
                    );
                    assert!(rig.heap_mut().allocate(layout(1, 1)).is_none(), "alloc after refusal");
                }
            }
            rig.validate();
            rig.check_guards();
        }
    }
    eprintln!("{}: A1 {accepted} regions accepted, {refused} refused, guards intact", H::NAME);
}

fn cat_a2_misaligned_region_is_trimmed_and_nothing_outside_is_written<H: TestHeap>() {
    for offset in thin(1..64, 21) {
        for len in [4 * H::MIN_REGION.max(16) + 1, 4097, 10_001] {
            let label = format!("A2 offset {offset} len {len}");
            let mut rig = Rig::new(H::empty(), Config::labelled(label));
            let usable = rig
                .claim(RegionSpec { len, offset })
                .expect("a large misaligned region is accepted");
            assert!(
                usable <= len && usable + 64 >= len.min(usable + 64),
                "usable {usable} of {len}"
            );
            rig.run(program(offset as u64, if MIRI { 30 } else { 300 }));
            rig.finish();
        }
    }
}

fn fake(addr: usize) -> *mut u8 {
    ptr::without_provenance_mut(addr)
}

fn cat_a3_null_wrapping_and_top_of_memory_regions_are_refused_without_writing<H: TestHeap>() {
    // The gate: `Region::new` refuses before any heap sees the range.
    // SAFETY: (all `Region::new` calls in this block) the pointers are fake and never
    // dereferenced; each call fails before a region exists.
    unsafe {
        assert_eq!(Region::new(ptr::null_mut(), 64), Err(RegionError::Null));
        assert_eq!(Region::new(fake(usize::MAX), 2), Err(RegionError::WrapsAround));
        assert_eq!(Region::new(fake(usize::MAX - 15), 17), Err(RegionError::WrapsAround));
        assert_eq!(Region::new(fake(1), usize::MAX), Err(RegionError::WrapsAround));
    }
    // Regions near 0 and ending at the top of the address space that are shorter than any the
    // heap accepts: it must refuse them before touching them or even offsetting the pointer (a
    // write would fault, and Miri reports any pointer arithmetic on these provenance-less
    // pointers). A region the heap would accept cannot be faked: the heap would use it.
    let mut tried = 0;
    for len in 1..H::REFUSED_BELOW {
        for base in
            [1, 8, 16, 4096 - len, usize::MAX - len, usize::MAX - len - 7, usize::MAX - 4096]
        {
            // SAFETY: fake pointer; the heap must refuse the region without touching it.
            let Ok(region) = (unsafe { Region::new(fake(base), len) }) else { continue };
            let mut heap = H::empty();
            assert!(
                heap.claim(region).is_err(),
                "{}: fake {len}-byte region at {base:#x} accepted",
                H::NAME
            );
            assert!(heap.allocate(layout(1, 1)).is_none());
            tried += 1;
        }
    }
    eprintln!("{}: A3 {tried} fake regions refused (< {} bytes)", H::NAME, H::REFUSED_BELOW);
}

fn cat_a4_second_claim_of_the_same_or_overlapping_memory_is_refused<H: TestHeap>() {
    let mut rig = new_rig::<H>(8192, "A4 overlap");
    let base = rig.arenas()[0].data().as_ptr();
    for (off, len) in [(0, 8192), (4096, 8192), (100, 200), (0, 1)] {
        // SAFETY: the range lies inside (or overlaps) memory the rig's arena owns and gave to the
        // heap already; the heap must refuse it (it documents overlap detection) before use.
        let Ok(region) = (unsafe { Region::new(base.wrapping_add(off), len) }) else { continue };
        let r = rig.heap_mut().claim(region);
        assert!(
            matches!(r, Err(RegionError::Overlap | RegionError::AlreadyClaimed))
                || (len < H::MIN_REGION && r.is_err()),
            "{}: overlapping claim [{off}, +{len}) gave {r:?}",
            H::NAME
        );
    }
    // No duplicate free space: a full program never sees overlapping blocks, and the capacity is
    // that of one region.
    rig.run(program(44, if MIRI { 100 } else { 3_000 }));
    rig.finish();
}

fn cat_a4_adjacent_regions_never_give_overlapping_blocks<H: TestHeap>() {
    let cfg = Config { reserve: 64 << 10, ..Config::labelled("A4 adjacent") };
    let mut rig = Rig::new(H::empty(), cfg);
    let first = rig.claim_reserve(16 << 10, 0).unwrap();
    assert!(first.is_ok(), "{first:?}");
    for _ in 0..3 {
        let next = rig.claim_reserve(16 << 10, 0).unwrap();
        if H::MULTI_REGION {
            assert!(next.is_ok(), "adjacent region refused: {next:?}");
        } else {
            assert_eq!(next, Err(RegionError::AlreadyClaimed));
        }
    }
    rig.run(program(45, if MIRI { 100 } else { 5_000 }));
    rig.finish();
}

fn cat_a5_allocation_before_claim_returns_none<H: TestHeap>() {
    let mut heap = H::empty();
    for (size, align) in [(0, 1), (1, 1), (8, 8), (4096, 4096), (1 << 20, 16)] {
        assert!(
            heap.allocate(layout(size, align)).is_none(),
            "{}: alloc({size}, {align}) before claim",
            H::NAME
        );
    }
    heap.validate().expect("an empty heap validates");
    for_locks::<H>(|name, alloc| {
        // SAFETY: non-zero sizes; nothing is returned, so nothing to free.
        unsafe {
            assert!(alloc.alloc(layout(8, 8)).is_null(), "{name}");
            assert!(alloc.alloc_zeroed(layout(64, 16)).is_null(), "{name}");
        }
    });
}

/// Runs `f` with an unclaimed heap behind each lock type.
fn for_locks<H: TestHeap>(f: impl Fn(&str, &dyn GlobalAlloc)) {
    f("Spin", &Locked::<Spin, H>::new(H::empty()));
    f("CriticalSection", &Locked::<CriticalSection, H>::new(H::empty()));
}

// ---------------------------------------------------------------------------------------------
// B. Layout, size, alignment

for_each_heap!(
    cat_b1_zero_size_blocks_are_unique_aligned_and_freeable,
    cat_b2_every_alignment_up_to_2_pow_bits_minus_1_gives_none_or_a_valid_block,
    cat_b3_sizes_near_isize_max_give_none_without_overflow,
    cat_b4_exact_fit_and_size_class_edges_succeed,
);
for_each_heap_and_lock!(cat_b2_b3_layout_grid_through_global_alloc_and_realloc);

fn cat_b1_zero_size_blocks_are_unique_aligned_and_freeable<H: TestHeap>() {
    let mut rig = new_rig::<H>(64 << 10, "B1");
    for a in 0..usize::BITS {
        if let Some(b) = rig.alloc(layout(0, 1 << a)) {
            rig.free(b);
        }
    }
    // 1000 live at once: the shadow checks each is distinct (a zero-size block covers 1 byte).
    let n = if MIRI { 100 } else { 1000 };
    let blocks: Vec<_> = (0..n).map(|i| rig.alloc(layout(0, 1 << (i % 4)))).collect();
    assert!(
        blocks.iter().all(Option::is_some),
        "{}: a zero-size allocation failed on a 64 KiB heap",
        H::NAME
    );
    rig.finish();
}

/// Sizes of the B2/B3 grid for one alignment: 0..=3, `2^k - 1`, `2^k`, `2^k + 1` for every
/// `k`, and the largest valid size `isize::MAX - align + 1`.
fn grid_sizes(align: usize) -> Vec<usize> {
    let mut sizes = vec![0, 1, 2, 3];
    for k in thin(1..usize::BITS, 4) {
        let p = 1usize << k;
        sizes.extend([p - 1, p, p.wrapping_add(1)]);
    }
    sizes.push((isize::MAX as usize + 1) - align);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Every valid layout of the grid with `size` in `range`, through the shadow.
fn layout_grid<H: TestHeap>(label: &str, sizes: impl Fn(usize) -> bool) -> (u64, u64) {
    let mut rig = new_rig::<H>(64 << 10, label);
    let (mut tried, mut got) = (0, 0);
    for a in thin(0..usize::BITS, 7) {
        let align = 1usize << a;
        for size in grid_sizes(align).into_iter().filter(|&s| sizes(s)) {
            let Ok(l) = Layout::from_size_align(size, align) else { continue };
            tried += 1;
            if let Some(b) = rig.alloc(l) {
                got += 1;
                rig.free(b);
            }
        }
    }
    rig.finish();
    (tried, got)
}

fn cat_b2_every_alignment_up_to_2_pow_bits_minus_1_gives_none_or_a_valid_block<H: TestHeap>() {
    let (tried, got) = layout_grid::<H>("B2 grid", |s| s <= 1 << 20);
    eprintln!(
        "{}: B2 {tried} layouts (align 2^0..2^{}), {got} allocated",
        H::NAME,
        usize::BITS - 1
    );
    assert!(got > 0);
}

fn cat_b3_sizes_near_isize_max_give_none_without_overflow<H: TestHeap>() {
    let (tried, got) = layout_grid::<H>("B3 grid", |s| s > 1 << 20);
    assert_eq!(got, 0, "{}: a block larger than the heap", H::NAME);
    // glibc-style sweep of the top sizes at and below isize::MAX, as allocations and as grow
    // targets of a live block.
    let mut rig = new_rig::<H>(4096, "B3 sweep");
    let live = rig.alloc(layout(16, 8)).unwrap();
    let n = if MIRI { 1 << 6 } else { 1 << 14 };
    for i in 0..n {
        let size = isize::MAX as usize - i;
        assert!(rig.alloc(layout(size, 1)).is_none());
        assert!(rig.grow(live, size).is_none());
        assert!(rig.grow(live, usize::MAX - i).is_none());
    }
    rig.free(live);
    rig.finish();
    eprintln!("{}: B3 {tried} grid layouts and {n} top sizes (alloc and grow): all None", H::NAME);
}

fn cat_b4_exact_fit_and_size_class_edges_succeed<H: TestHeap>() {
    // The largest block of a fresh heap, for several heap sizes: exactly it fits, one more
    // byte does not, and it is what `claim` reported as usable.
    for len in [H::MIN_REGION.max(64), 100, 256, 1000, 4096, 65_536] {
        if len < H::MIN_REGION {
            continue; // a heap may refuse it (Tlsf's first region holds its control block)
        }
        let mut rig = Rig::new(H::empty(), Config::labelled(format!("B4 exact fit {len}")));
        let usable = rig.claim(RegionSpec::new(len)).unwrap();
        let max = rig.capacity_profile()[0];
        assert_eq!(
            max,
            usable,
            "{}: largest block of a fresh {len}-byte heap vs claim's usable bytes",
            H::NAME
        );
        let b = rig.alloc(layout(max, 1)).expect("exact fit");
        assert!(rig.alloc(layout(1, 1)).is_none() || H::MULTI_REGION, "heap full after exact fit");
        rig.free(b);
        assert!(rig.alloc(layout(max + 1, 1)).is_none(), "{} bytes fit a {max}-byte heap", max + 1);
        rig.finish();
    }
    // scudo's BasicTest pattern: sizes 2^k ± δ for every alignment up to 2^12, filled and verified.
    let mut rig = new_rig::<H>(256 << 10, "B4 edges");
    let mut n = 0;
    for k in thin(0..=16u32, 4) {
        for delta in [-32isize, -1, 0, 1, 32] {
            let Some(size) = (1usize << k).checked_add_signed(delta) else { continue };
            for a in thin(0..=12, 5) {
                let b = rig.alloc(layout(size, 1 << a));
                let b = b.unwrap_or_else(|| {
                    panic!("{}: {size} bytes align 2^{a} on an empty 256 KiB heap", H::NAME)
                });
                rig.free(b);
                n += 1;
                if !H::REUSES_FREED {
                    // SAFETY: no block is live.
                    assert!(unsafe { rig.heap_mut().reset() });
                }
            }
        }
    }
    eprintln!("{}: B4 {n} edge sizes allocated, filled and verified", H::NAME);
    rig.finish();
}

fn cat_b2_b3_layout_grid_through_global_alloc_and_realloc<L: RawLock, H: TestHeap>(lock: L) {
    let shared = Shared::<L, H>::new(lock, 64 << 10);
    let (mut tried, mut got) = (0u64, 0u64);
    for a in thin(0..usize::BITS, 7) {
        let align = 1usize << a;
        for size in grid_sizes(align) {
            let Ok(l) = Layout::from_size_align(size, align) else { continue };
            if size == 0 {
                continue; // not allowed through GlobalAlloc
            }
            tried += 1;
            // SAFETY: `l` has a non-zero size.
            let p = unsafe { shared.heap.alloc(l) };
            if shared.check(p, l, 0xab) {
                got += 1;
                // SAFETY: `p` was allocated with `l`.
                unsafe { shared.heap.dealloc(p, l) };
            }
        }
        // realloc of a live block to every grid size (D4 through GlobalAlloc).
        let Ok(small) = Layout::from_size_align(8, align) else { continue };
        // SAFETY: non-zero size.
        let p = unsafe { shared.heap.alloc(small) };
        if !shared.check(p, small, 0x5a) {
            continue;
        }
        let mut cur = (p, small);
        for size in grid_sizes(align).into_iter().filter(|&s| s >= 8) {
            if Layout::from_size_align(size, align).is_err() {
                continue; // the caller's side of GlobalAlloc::realloc's contract
            }
            // SAFETY: `cur` is live with `cur.1`; `size` is non-zero and valid with `align`.
            let q = unsafe { shared.heap.realloc(cur.0, cur.1, size) };
            if q.is_null() {
                continue; // the old block stays live
            }
            let nl = layout(size, align);
            assert_eq!(q.addr() % align, 0, "realloc lost the alignment");
            // SAFETY: `q` is live for `size >= 8` bytes.
            let head = unsafe { ptr::read(q.cast::<[u8; 8]>()) };
            assert_eq!(head, [0x5a; 8], "realloc lost the contents");
            shared.check(q, nl, 0x5a);
            cur = (q, nl);
        }
        // SAFETY: `cur` is live with `cur.1`.
        unsafe { shared.heap.dealloc(cur.0, cur.1) };
    }
    shared.validate();
    assert!(got > 0 && tried > got);
}

// ---------------------------------------------------------------------------------------------
// D. Realloc

for_each_heap!(
    cat_d1_resize_across_size_classes_keeps_exactly_min_old_new_bytes,
    cat_d2_moving_resize_keeps_the_alignment,
    cat_d3_failed_grow_leaves_the_block_intact_and_freeable,
    cat_d4_grow_to_impossible_sizes_returns_none,
    cat_d5_resize_at_region_end_same_size_and_to_one_byte,
);

fn cat_d1_resize_across_size_classes_keeps_exactly_min_old_new_bytes<H: TestHeap>() {
    let mut rig = new_rig::<H>(512 << 10, "D1");
    for k in thin(1..16u32, 3) {
        for (from, to) in
            [((1usize << k) - 1, (1 << (k + 1)) + 1), ((1 << k) + 1, (1 << (k - 1)) - 1)]
        {
            let b = rig.alloc(layout(from, 8)).unwrap();
            // A neighbour after it, so growing in place is not always possible.
            let n = rig.alloc(layout(24, 8)).unwrap();
            // The rig verifies min(old, new) bytes after the resize.
            let b = if to >= from { rig.grow(b, to) } else { rig.shrink(b, to) };
            let b =
                b.unwrap_or_else(|| panic!("{}: resize {from} -> {to} on a roomy heap", H::NAME));
            let b = if to >= from { rig.shrink(b, from.min(to)) } else { rig.grow(b, from) };
            rig.free(b.unwrap());
            rig.free(n);
            if !H::REUSES_FREED {
                // SAFETY: no block is live.
                unsafe { rig.heap_mut().reset() };
            }
        }
    }
    rig.finish();
}

fn cat_d2_moving_resize_keeps_the_alignment<H: TestHeap>() {
    let mut rig = new_rig::<H>(256 << 10, "D2");
    let mut moved = 0;
    for a in 4..=12 {
        let b = rig.alloc(layout(64, 1 << a)).unwrap();
        let n = rig.alloc(layout(1, 1)).unwrap(); // occupies the memory right after `b`
        let g = rig.grow(b, 8192).expect("room to move");
        moved += usize::from(g.ptr != b.ptr);
        rig.free(n);
        rig.free(g);
    }
    assert!(moved > 0, "{}: no grow moved, so D2 was not exercised", H::NAME);
    rig.finish();
}

fn cat_d3_failed_grow_leaves_the_block_intact_and_freeable<H: TestHeap>() {
    let mut rig = new_rig::<H>(16 << 10, "D3");
    let mut blocks = Vec::new();
    while let Some(b) = rig.alloc(layout(256, 8)) {
        blocks.push(b);
    }
    assert!(blocks.len() >= 16, "{}: only {} 256-byte blocks in 16 KiB", H::NAME, blocks.len());
    for &i in &[0, blocks.len() / 2, blocks.len() - 1] {
        // The rig verifies the old contents after each failed grow.
        assert!(rig.grow(blocks[i], 32 << 10).is_none(), "grow past the heap size");
        assert!(rig.grow(blocks[i], isize::MAX as usize).is_none());
    }
    let mid = blocks.swap_remove(blocks.len() / 2);
    rig.free(mid);
    rig.finish();
}

fn cat_d4_grow_to_impossible_sizes_returns_none<H: TestHeap>() {
    let mut rig = new_rig::<H>(64 << 10, "D4");
    for align in [1usize, 8, 4096] {
        let b = rig.alloc(layout(32, align)).unwrap();
        let mut sizes =
            vec![usize::MAX, usize::MAX - 1, isize::MAX as usize, isize::MAX as usize + 1];
        sizes.push(isize::MAX as usize - align + 2); // rounds up past isize::MAX
        sizes.extend((17..usize::BITS).map(|k| 1usize << k));
        for s in sizes {
            assert!(
                rig.grow(b, s).is_none(),
                "{}: grow to {s:#x} (align {align}) succeeded",
                H::NAME
            );
        }
        rig.free(b);
    }
    rig.finish();
}

fn cat_d5_resize_at_region_end_same_size_and_to_one_byte<H: TestHeap>() {
    let mut rig = new_rig::<H>(4096, "D5");
    let max = rig.capacity_profile()[0];
    let b = rig.alloc(layout(max, 1)).unwrap();
    assert!(rig.grow(b, max + 1).is_none(), "grow past the region end");
    let same = rig.grow(b, max).expect("grow to the same size");
    assert_eq!(same.ptr, b.ptr, "{}: grow to the same size moved", H::NAME);
    let one = rig.shrink(same, 1).expect("shrink to 1");
    let back = rig.grow(one, max).expect("grow back into the freed tail");
    if H::IN_PLACE {
        assert_eq!(one.ptr, b.ptr, "{}: shrink moved", H::NAME);
        assert_eq!(back.ptr, b.ptr, "{}: grow into the free tail moved", H::NAME);
    }
    let zero = rig.shrink(back, 0).expect("shrink to 0");
    rig.free(zero);
    // scudo's ReallocateInPlaceStress: blocks of 16i - 1 bytes grown to 16i.
    let n = if MIRI { 20 } else { 100 };
    let mut rig = new_rig::<H>(512 << 10, "D5 stress");
    let mut blocks: Vec<_> = (1..=n).filter_map(|i| rig.alloc(layout(16 * i - 1, 8))).collect();
    let mut in_place = 0;
    for (i, b) in blocks.iter_mut().enumerate() {
        let g = rig.grow(*b, 16 * (i + 1)).expect("grow by one byte");
        in_place += usize::from(g.ptr == b.ptr);
        *b = g;
    }
    eprintln!("{}: D5 {in_place} of {} one-byte grows in place", H::NAME, blocks.len());
    rig.finish();
}

// ---------------------------------------------------------------------------------------------
// E. Exhaustion, leaks

for_each_heap!(
    cat_e1_out_of_memory_returns_none_and_the_heap_stays_usable,
    cat_e3_freeing_everything_returns_the_heap_to_pristine,
    cat_e3_wee_alloc_106_alternating_large_blocks_keep_the_footprint_constant,
);
for_each_heap_and_lock!(cat_e1_out_of_memory_through_locked_returns_null_and_releases_the_lock);

fn cat_e1_out_of_memory_returns_none_and_the_heap_stays_usable<H: TestHeap>() {
    let len = if MIRI { 8 << 10 } else { 64 << 10 };
    let mut rig = new_rig::<H>(len, "E1");
    let mut blocks = Vec::new();
    while let Some(b) = rig.alloc(layout(64, 8)) {
        blocks.push(b);
        assert!(blocks.len() <= len / 64, "{}: more 64-byte blocks than fit in {len}", H::NAME);
    }
    let n = blocks.len();
    assert!(n >= len / 64 / 2, "{}: only {n} 64-byte blocks fit in {len} bytes", H::NAME);
    assert!(rig.alloc(layout(1 << 20, 8)).is_none());
    let last = blocks.pop().unwrap();
    rig.free(last);
    assert!(
        rig.alloc(layout(64, 8)).is_some(),
        "{}: the freed (last) block is not reusable",
        H::NAME
    );
    rig.finish();
}

fn cat_e1_out_of_memory_through_locked_returns_null_and_releases_the_lock<
    L: RawLock,
    H: TestHeap,
>(
    lock: L,
) {
    let shared = Shared::<L, H>::new(lock, 32 << 10);
    let l = layout(128, 16);
    let mut blocks = Vec::new();
    loop {
        // SAFETY: non-zero size.
        let p = unsafe { shared.heap.alloc(l) };
        if !shared.check(p, l, 1) {
            break;
        }
        blocks.push(p);
        assert!(blocks.len() <= 256);
    }
    assert!(shared.heap.lock(|_| ()).is_some(), "the lock is free after an OOM");
    shared.validate();
    for p in blocks.into_iter().rev() {
        // SAFETY: allocated above with `l`.
        unsafe { shared.heap.dealloc(p, l) };
    }
    // SAFETY: non-zero size.
    let p = unsafe { shared.heap.alloc(l) };
    assert!(shared.check(p, l, 2), "usable again after freeing");
    // SAFETY: allocated just above with `l`.
    unsafe { shared.heap.dealloc(p, l) };
    shared.validate();
    let _ = &shared.arena;
}

fn cat_e3_freeing_everything_returns_the_heap_to_pristine<H: TestHeap>() {
    // Several rounds of a random program, each ending with a drain and the pristine check.
    let cfg = Config { round_len: if MIRI { 100 } else { 2_000 }, ..Config::labelled("E3 seed 3") };
    let mut rig = Rig::with_regions(H::empty(), &[RegionSpec::new(64 << 10)], cfg);
    rig.run(program(3, if MIRI { 300 } else { 10_000 }));
    let stats = rig.finish();
    assert!(stats.pristine_checks >= if MIRI { 4 } else { 6 }, "{stats}");
}

fn cat_e3_wee_alloc_106_alternating_large_blocks_keep_the_footprint_constant<H: TestHeap>() {
    if !H::REUSES_FREED {
        // A bump allocator only takes back the last block: this pattern needs reset (J1).
        eprintln!("{}: E3 wee_alloc #106 not applicable (no reuse of freed blocks)", H::NAME);
        return;
    }
    let mut rig = new_rig::<H>(192 << 10, "E3 wee_alloc 106");
    let (a, b) = (layout(85_196, 8), layout(80_000, 8));
    // A few rounds through the shadow (contents checked), then many directly on the heap
    // (only the footprint matters), validated every 1000 rounds.
    for _ in 0..3 {
        let x = rig.alloc(a).expect("85,196 bytes");
        let y = rig.alloc(b).expect("80,000 bytes");
        rig.free(x);
        rig.free(y);
    }
    let rounds = if MIRI { 20 } else { 100_000 };
    for i in 0..rounds {
        let heap = rig.heap_mut();
        let x = heap.allocate(a).unwrap_or_else(|| panic!("{}: round {i}: 85,196 bytes", H::NAME));
        let y = heap.allocate(b).unwrap_or_else(|| panic!("{}: round {i}: 80,000 bytes", H::NAME));
        // SAFETY: both were just allocated with these layouts.
        unsafe {
            heap.deallocate(x, a);
            heap.deallocate(y, b);
        }
        if i % 1000 == 0 {
            rig.validate();
        }
    }
    rig.finish();
    eprintln!("{}: E3 wee_alloc #106: {rounds} rounds, footprint constant", H::NAME);
}

// ---------------------------------------------------------------------------------------------
// F4. Re-entry through `Locked`

for_each_heap_and_lock!(cat_f4_reentry_through_locked_returns_null_without_deadlock);

fn cat_f4_reentry_through_locked_returns_null_without_deadlock<L: RawLock, H: TestHeap>(lock: L) {
    let shared = Shared::<L, H>::new(lock, 16 << 10);
    let heap = &shared.heap;
    let l = layout(32, 8);
    // SAFETY: non-zero size.
    let outer = unsafe { heap.alloc(l) };
    assert!(shared.check(outer, l, 7));
    let inner = heap.lock(|_| {
        // SAFETY: non-zero size; `outer` is live with `l` (the dealloc must be refused: leak).
        unsafe {
            let p = heap.alloc(l);
            let z = heap.alloc_zeroed(l);
            let r = heap.realloc(outer, l, 64);
            heap.dealloc(outer, l);
            let nested = heap.lock(|_| ());
            let mut arena = Arena::new(4096);
            // A region is never given twice: the claim is refused (Busy) and nothing is written.
            let region = arena.region(0, 4096).unwrap();
            let claim = heap.claim(region);
            arena.ungive(0);
            arena.check();
            (p, z, r, nested, claim)
        }
    });
    let (p, z, r, nested, claim) = inner.expect("the outer lock is taken");
    assert!(p.is_null() && z.is_null() && r.is_null(), "{}: re-entrant call got memory", H::NAME);
    assert!(nested.is_none(), "nested lock ran");
    assert_eq!(claim, Err(RegionError::Busy));
    // The re-entrant dealloc leaked `outer`: still live and intact.
    // SAFETY: `outer` is live for 32 bytes.
    assert_eq!(unsafe { ptr::read(outer.cast::<[u8; 32]>()) }, [7; 32]);
    // SAFETY: `outer` is live with `l`.
    unsafe { heap.dealloc(outer, l) };
    // The lock was released: allocation works again.
    // SAFETY: non-zero size.
    let p = unsafe { heap.alloc(l) };
    assert!(shared.check(p, l, 8));
    // SAFETY: allocated above with `l`.
    unsafe { heap.dealloc(p, l) };
    shared.validate();
}

// ---------------------------------------------------------------------------------------------
// J1. Bump-specific

#[test]
fn cat_j1_bump_overflow_and_padding_never_wrap() {
    let mut rig = new_rig::<Bump>(4096, "J1 overflow");
    let one = rig.alloc(layout(1, 1)).unwrap();
    assert!(rig.alloc(layout(4096, 1)).is_none(), "4096 more bytes after one");
    let rest = rig.alloc(layout(4095, 1)).expect("exactly the rest fits");
    assert!(rig.alloc(layout(0, 1)).is_none(), "a full bump has no byte for a zero-size block");
    rig.free(rest);
    rig.free(one);
    // Every alignment with sizes up to the largest valid one: None, or a valid block.
    for a in 0..usize::BITS {
        let align = 1usize << a;
        for size in [1, 4096, (isize::MAX as usize + 1) - align] {
            if let Ok(l) = Layout::from_size_align(size, align) {
                if let Some(b) = rig.alloc(l) {
                    rig.free(b);
                }
            }
        }
    }
    rig.finish();
}

#[test]
fn cat_j1_bump_free_of_a_non_last_block_is_a_no_op_and_last_is_reclaimed() {
    let mut rig = new_rig::<Bump>(4096, "J1 free");
    let a = rig.alloc(layout(100, 8)).unwrap();
    let b = rig.alloc(layout(100, 8)).unwrap();
    let used = rig.heap().used();
    rig.free(a);
    assert_eq!(rig.heap().used(), used, "freeing a non-last block changed `used`");
    let c = rig.alloc(layout(100, 8)).unwrap(); // must not reuse `a` while `b` is live
    let c_offset = c.addr() - rig.arenas()[0].data().as_ptr().addr();
    rig.free(c);
    assert_eq!(rig.heap().used(), c_offset, "the last block is reclaimed up to its start");
    rig.free(b);
    assert_eq!(
        rig.heap().used(),
        c_offset,
        "a block that was not last when freed is not reclaimed later"
    );
    rig.finish();
}

#[test]
fn cat_j1_bump_reset_and_const_new_in_a_static() {
    static HEAP: Locked<Spin, Bump> = Locked::new(Bump::new());
    static MEMORY: HeapMemory<1024> = HeapMemory::new();
    assert_eq!(HEAP.claim(MEMORY.take().unwrap()), Ok(1024));
    let l = layout(1024, 1);
    // SAFETY: non-zero size; the block is not used after the reset below.
    let p = unsafe { HEAP.alloc(l) };
    assert!(!p.is_null());
    // SAFETY: non-zero size.
    assert!(unsafe { HEAP.alloc(layout(1, 1)) }.is_null(), "full");
    // SAFETY: `p` is not used after the reset.
    HEAP.lock(|h| unsafe { h.reset() }).unwrap();
    assert_eq!(HEAP.lock(|h| (h.used(), h.remaining())), Some((0, 1024)));
    // SAFETY: non-zero size; the block is never freed (the static heap is abandoned).
    assert!(!unsafe { HEAP.alloc(l) }.is_null(), "everything available after reset");
}

#[test]
fn cat_j1_atomic_bump_checked_end_lifo_reclaim_and_reset() {
    use bareheap::AtomicBump;
    let bump = AtomicBump::new();
    let mut arena = Arena::new(4096);
    // SAFETY: `bump` is dropped (declared after `arena`) before `arena`.
    assert_eq!(bump.claim(unsafe { arena.region(0, 4096) }.unwrap()), Ok(4096));
    // SAFETY: (all calls in this block) non-zero sizes; blocks are freed with their layouts or
    // reset, and never used after the reset.
    unsafe {
        for a in 0..usize::BITS {
            let Ok(l) = Layout::from_size_align(1, 1 << a) else { continue };
            let p = bump.alloc(l);
            assert!(p.is_null() || p.addr() % l.align() == 0);
            if !p.is_null() {
                bump.dealloc(p, l);
            }
        }
        let big = Layout::from_size_align(isize::MAX as usize, 1).unwrap();
        assert!(bump.alloc(big).is_null());
        let l = layout(1000, 8);
        let a = bump.alloc(l);
        let b = bump.alloc(l);
        assert!(!a.is_null() && !b.is_null());
        let used = bump.used();
        bump.dealloc(a, l); // not the last: no-op
        assert_eq!(bump.used(), used);
        bump.dealloc(b, l); // the last: reclaimed
        assert!(bump.used() < used);
        while !bump.alloc(l).is_null() {}
        assert!(bump.remaining() < 1000);
        bump.reset();
        assert_eq!(bump.used(), 0);
    }
    bump.validate().unwrap();
    arena.check();
}

// ---------------------------------------------------------------------------------------------
// C, G1, J2. Invalid frees and corruption reach the one fault handler (`bareheap::fault`)
//
// Every test installs a recording handler, provokes the fault, and checks that the handler saw
// exactly the expected report, that the arena's bytes are unchanged (nothing was written), and
// that the heap still validates. The clean operations around each fault must report nothing,
// so a check that always fires fails too.

mod faults {
    use core::alloc::Layout;
    use core::ptr::NonNull;
    use std::cell::RefCell;
    use std::vec::Vec;

    use bareheap::fault::{self, Fault, FaultKind, HeapKind};
    use bareheap::{Claim, FirstFit, Heap, Slab, Tlsf};
    use bareheap_testkit::Arena;

    std::thread_local!(static SEEN: RefCell<Vec<Fault>> = const { RefCell::new(Vec::new()) });

    /// The user handler: records on the calling thread (the handler runs inside the heap call,
    /// on the thread that made it), so tests running in parallel keep their reports apart.
    extern "C" fn record(f: &Fault) {
        SEEN.with(|s| s.borrow_mut().push(*f));
    }

    /// The reports since the last call, as (heap, kind, address).
    pub(super) fn seen() -> Vec<(HeapKind, FaultKind, usize)> {
        SEEN.with(|s| s.borrow_mut().drain(..).map(|f| (f.heap, f.kind, f.addr)).collect())
    }

    /// A heap over a fresh arena, with the recording handler installed.
    pub(super) struct Subject<H> {
        pub(super) heap: H,
        pub(super) arena: Arena,
        pub(super) kind: HeapKind,
    }

    impl<H: Heap + Claim> Subject<H> {
        pub(super) fn new(mut heap: H, kind: HeapKind, len: usize) -> Self {
            fault::set_handler(record);
            let mut arena = Arena::new(len);
            // SAFETY: the heap is dropped with the subject, before the arena is freed: fields
            // drop in declaration order.
            heap.claim(unsafe { arena.region(0, len) }.unwrap()).unwrap();
            let _ = seen();
            Subject { heap, arena, kind }
        }

        pub(super) fn bytes(&self) -> Vec<u8> {
            self.arena.snapshot()
        }

        /// Frees `p` with `l`, expecting `kind` at `addr` and no write.
        pub(super) fn refused_free(&mut self, p: NonNull<u8>, l: Layout, kind: FaultKind) {
            let before = self.bytes();
            // SAFETY: deliberately invalid; the heap must refuse before any write.
            unsafe { self.heap.deallocate(p, l) };
            assert_eq!(seen(), [(self.kind, kind, p.as_ptr().addr())]);
            assert!(before == self.bytes(), "{kind:?}: the refused free wrote to the heap");
            self.heap.validate().unwrap();
        }

        pub(super) fn alloc(&mut self, l: Layout) -> NonNull<u8> {
            let p = self.heap.allocate(l).unwrap();
            // SAFETY: fresh block of `l.size()` bytes.
            unsafe { p.as_ptr().write_bytes(0x5a, l.size()) };
            p
        }

        pub(super) fn free(&mut self, p: NonNull<u8>, l: Layout) {
            // SAFETY: the tests pass live blocks with their layouts.
            unsafe { self.heap.deallocate(p, l) };
            assert_eq!(seen(), [], "a valid free was reported");
        }
    }

    pub(super) fn first_fit() -> Subject<FirstFit> {
        Subject::new(FirstFit::new(), HeapKind::FirstFit, 8192)
    }

    pub(super) fn tlsf() -> Subject<Tlsf> {
        Subject::new(Tlsf::new(), HeapKind::Tlsf, 16384)
    }

    pub(super) fn slab() -> Subject<Slab<FirstFit>> {
        Subject::new(Slab::new(FirstFit::new()), HeapKind::Slab, 32768)
    }

    #[cfg(feature = "hardened")]
    pub(super) fn hardened_first_fit() -> Subject<bareheap::hardened::HardenedFirstFit> {
        let h = bareheap::hardened::Hardened::new(bareheap::FirstFitWith::new());
        Subject::new(h, HeapKind::Hardened, 8192)
    }

    #[cfg(feature = "hardened")]
    pub(super) fn hardened_tlsf() -> Subject<bareheap::hardened::HardenedTlsf> {
        Subject::new(
            bareheap::hardened::Hardened::new(bareheap::TlsfWith::new()),
            HeapKind::Hardened,
            16384,
        )
    }
}

/// Instantiates a fault test for each heap that reports: `mod name { fn first_fit, ... }`.
macro_rules! for_each_reporting_heap {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn first_fit() {
                super::$name(super::faults::first_fit());
            }
            #[test]
            fn tlsf() {
                super::$name(super::faults::tlsf());
            }
            #[test]
            fn slab() {
                super::$name(super::faults::slab());
            }
            #[cfg(feature = "hardened")]
            #[test]
            fn hardened_first_fit() {
                super::$name(super::faults::hardened_first_fit());
            }
            #[cfg(feature = "hardened")]
            #[test]
            fn hardened_tlsf() {
                super::$name(super::faults::hardened_tlsf());
            }
        }
    )*};
}

for_each_reporting_heap!(
    cat_c1_double_free_reaches_the_fault_handler_before_any_write,
    cat_c2_foreign_pointer_free_reaches_the_fault_handler_before_any_write,
    cat_c3_misaligned_free_reaches_the_fault_handler_before_any_write,
);

fn cat_c1_double_free_reaches_the_fault_handler_before_any_write<
    H: bareheap::Heap + bareheap::Claim,
>(
    mut s: faults::Subject<H>,
) {
    use bareheap::fault::FaultKind;
    let l = layout(48, 8);
    // Immediate, and delayed past other operations; a neighbour keeps a slab alive.
    let keep = s.alloc(l);
    let p = s.alloc(l);
    // Keeps `p`'s hole too small for the delayed allocation below, so `p` is not handed out
    // again (a free of a reused address is a free of a live block: not detectable).
    let barrier = s.alloc(l);
    s.free(p, l);
    s.refused_free(p, l, FaultKind::NotAllocated);
    let q = s.alloc(layout(200, 8));
    s.refused_free(p, l, FaultKind::NotAllocated);
    s.free(q, layout(200, 8));
    s.free(barrier, l);
    s.free(keep, l);
}

fn cat_c2_foreign_pointer_free_reaches_the_fault_handler_before_any_write<
    H: bareheap::Heap + bareheap::Claim,
>(
    mut s: faults::Subject<H>,
) {
    use bareheap::fault::FaultKind;
    let l = layout(48, 8);
    let keep = s.alloc(l);
    let mut local = [0u64; 8];
    let stack = core::ptr::NonNull::from(&mut local).cast::<u8>();
    let other = Box::into_raw(Box::new([0u64; 8]));
    let heap_of_std = core::ptr::NonNull::new(other.cast::<u8>()).unwrap();
    for p in [stack, heap_of_std] {
        s.refused_free(p, l, FaultKind::Outside);
    }
    assert_eq!(local, [0; 8]);
    // SAFETY: allocated above by `Box`.
    assert_eq!(unsafe { Box::from_raw(other) }, Box::new([0u64; 8]));
    s.free(keep, l);
}

fn cat_c3_misaligned_free_reaches_the_fault_handler_before_any_write<
    H: bareheap::Heap + bareheap::Claim,
>(
    mut s: faults::Subject<H>,
) {
    use bareheap::fault::{FaultKind, HeapKind};
    let l = layout(48, 8);
    let keep = s.alloc(l);
    let p = s.alloc(l);
    let odd = core::ptr::NonNull::new(p.as_ptr().wrapping_add(1)).unwrap();
    // Slab calls an in-slot pointer "not the start of a slot".
    let kind =
        if s.kind == HeapKind::Slab { FaultKind::NotBlockStart } else { FaultKind::Misaligned };
    s.refused_free(odd, l, kind);
    s.free(p, l);
    s.free(keep, l);
}

#[test]
fn cat_j2_slab_wrong_class_and_interior_slot_reach_the_fault_handler() {
    use bareheap::fault::FaultKind;
    let mut s = faults::slab();
    let l = layout(48, 8);
    let keep = s.alloc(l);
    let p = s.alloc(l);
    s.refused_free(p, layout(16, 8), FaultKind::WrongClass);
    let interior = core::ptr::NonNull::new(p.as_ptr().wrapping_add(16)).unwrap();
    s.refused_free(interior, l, FaultKind::NotBlockStart);
    assert_eq!(s.heap.invalid_frees(), 2, "the slab's own counter is kept");
    s.free(p, l);
    s.free(keep, l);
}

#[cfg(feature = "hardened")]
mod hardened_faults {
    use super::faults::{self, Subject};
    use super::layout;
    use bareheap::fault::{FaultKind, HeapKind};
    use bareheap::{Claim, Heap};

    fn c4<H: Heap + Claim>(mut s: Subject<H>) {
        let l = layout(40, 8);
        let p = s.alloc(l);
        for wrong in [39, 41, 48, 8] {
            s.refused_free(p, layout(wrong, 8), FaultKind::LayoutMismatch);
        }
        s.free(p, l);
    }

    #[test]
    fn cat_c4_dealloc_with_another_size_reaches_the_fault_handler_hardened_first_fit() {
        c4(faults::hardened_first_fit());
    }

    #[test]
    fn cat_c4_dealloc_with_another_size_reaches_the_fault_handler_hardened_tlsf() {
        c4(faults::hardened_tlsf());
    }

    fn g1<H: Heap + Claim>(mut s: Subject<H>) {
        for (size, over) in [(10, 1), (16, 1), (33, 8), (64, 8)] {
            let l = layout(size, 1);
            let p = s.alloc(l);
            // The overflow changes every byte it hits (a constant could match the canary's
            // byte by chance, 1 in 256, and no check can see a write that changes nothing).
            for i in 0..over {
                // SAFETY: the bytes behind the payload are the block's trailer; the write is
                // the planted overflow.
                unsafe {
                    let b = p.as_ptr().add(size + i);
                    b.write(!b.read());
                }
            }
            s.refused_free(p, l, FaultKind::CanaryDamaged);
        }
    }

    #[test]
    fn cat_g1_one_and_eight_byte_overflow_reaches_the_fault_handler_hardened_first_fit() {
        g1(faults::hardened_first_fit());
    }

    #[test]
    fn cat_g1_one_and_eight_byte_overflow_reaches_the_fault_handler_hardened_tlsf() {
        g1(faults::hardened_tlsf());
    }

    /// Scudo's `DeathCombined` corruption: XOR a pattern into the word in front of the
    /// payload (the keyed size record), then free. The record no longer decodes to the block's
    /// size: a bad header or a layout mismatch, reported before anything is written.
    fn g2<H: Heap + Claim>(mut s: Subject<H>) {
        let l = layout(40, 8);
        for mask in [0x42usize, 0x0042_0042] {
            let p = s.alloc(l);
            let record = p.as_ptr().wrapping_sub(core::mem::size_of::<usize>()).cast::<usize>();
            // SAFETY: the word in front of a live payload is its record (Hardened's layout);
            // the write is the planted corruption, undone below.
            unsafe { record.write(record.read() ^ mask) };
            let before = s.bytes();
            // SAFETY: deliberately damaged; the heap must refuse before any write.
            unsafe { s.heap.deallocate(p, l) };
            let seen = faults::seen();
            assert!(
                matches!(
                    seen.as_slice(),
                    [(_, FaultKind::BadHeader | FaultKind::LayoutMismatch, at)]
                        if *at == p.as_ptr().addr()
                ),
                "mask {mask:#x}: {seen:?}"
            );
            assert!(before == s.bytes(), "mask {mask:#x}: the refused free wrote to the heap");
            s.heap.validate().unwrap();
            // SAFETY: as above: the corruption is undone, the block is live again.
            unsafe { record.write(record.read() ^ mask) };
            s.free(p, l);
        }
    }

    #[test]
    fn cat_g2_header_xor_pattern_reaches_the_fault_handler_hardened_first_fit() {
        g2(faults::hardened_first_fit());
    }

    #[test]
    fn cat_g2_header_xor_pattern_reaches_the_fault_handler_hardened_tlsf() {
        g2(faults::hardened_tlsf());
    }

    #[test]
    fn cat_c5_write_after_free_over_a_link_reaches_the_fault_handler_keyed_first_fit() {
        let mut s = Subject::new(bareheap::FirstFitWith::<true>::new(), HeapKind::FirstFit, 4096);
        let l = layout(48, 8);
        let blocks: Vec<_> = (0..6).map(|_| s.alloc(l)).collect();
        s.free(blocks[0], l);
        s.free(blocks[2], l);
        // A use after free: the program writes into the first word of a freed block, which is
        // its free-list link.
        // SAFETY: `blocks[0]` is free memory of the arena; the write is the planted bug.
        unsafe { blocks[0].as_ptr().cast::<u64>().write(0x4141_4141_4141_4141) };
        assert!(s.heap.validate().is_err());
        let before = s.bytes();
        assert_eq!(s.heap.allocate(layout(2000, 8)), None, "the damaged link was followed");
        let holder = blocks[0].as_ptr().addr() - core::mem::size_of::<usize>();
        assert_eq!(faults::seen(), [(HeapKind::FirstFit, FaultKind::CorruptLink, holder)]);
        assert!(before == s.bytes(), "wrote after detecting a damaged link");
    }

    #[test]
    fn cat_c5_write_after_free_over_a_link_reaches_the_fault_handler_keyed_tlsf() {
        let heap = bareheap::TlsfWith::<20, 8, 16, true>::new();
        let mut s = Subject::new(heap, HeapKind::Tlsf, 4096);
        let l = layout(48, 8);
        let blocks: Vec<_> = (0..6).map(|_| s.alloc(l)).collect();
        s.free(blocks[0], l);
        s.free(blocks[2], l);
        // A use after free over the first word of the freed block: its `next` link.
        // SAFETY: `blocks[2]` is free memory of the arena; the write is the planted bug.
        unsafe { blocks[2].as_ptr().cast::<u64>().write(0x4141_4141_4141_4141) };
        assert!(s.heap.validate().is_err());
        let before = s.bytes();
        // The damaged block heads its list: an allocation of its class must not follow it.
        assert_eq!(s.heap.allocate(l), None, "the damaged link was followed");
        let holder = blocks[2].as_ptr().addr() - core::mem::size_of::<usize>();
        assert_eq!(faults::seen(), [(HeapKind::Tlsf, FaultKind::CorruptLink, holder)]);
        // Freeing its neighbour would merge with it: refused as well, nothing written.
        // SAFETY: `blocks[1]` is live with `l`; the heap refuses the free.
        unsafe { s.heap.deallocate(blocks[1], l) };
        let neighbour = blocks[1].as_ptr().addr() - core::mem::size_of::<usize>();
        assert_eq!(faults::seen(), [(HeapKind::Tlsf, FaultKind::CorruptLink, neighbour)]);
        assert!(before == s.bytes(), "wrote after detecting a damaged link");
    }
}

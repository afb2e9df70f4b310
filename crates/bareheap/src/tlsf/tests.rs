//! Tests of [`Tlsf`]: the size-class mapping (exhaustive over 32-bit sizes), a shadow model
//! driven by random operations for a matrix of configurations, the catalogue rows that apply
//! (`cat_<row>_*`), and planted corruptions that `validate` must find.

use super::mapping::{
    ceil_index, ceil_index_with, class_base, floor_index, floor_index_bytes,
    floor_index_bytes_with, floor_index_with, log2_by_compares,
};
use super::*;

use std::collections::BTreeMap;
use std::vec::Vec;

use crate::test_util::Arena;

/// Test-only observations of the heap's cold paths.
pub(super) struct Probe {
    pub(super) invalid: Option<(usize, InvalidFree)>,
    pub(super) invalid_count: usize,
    pub(super) fallbacks: usize,
}

impl Probe {
    pub(super) const fn new() -> Self {
        Probe { invalid: None, invalid_count: 0, fallbacks: 0 }
    }
    pub(super) fn invalid_free(&mut self, addr: usize, reason: InvalidFree) {
        self.invalid = Some((addr, reason));
        self.invalid_count += 1;
    }
}

/// Scales an operation count: full in release, a tenth in debug, a hundredth under Miri.
fn scaled(release: usize) -> usize {
    if cfg!(miri) {
        (release / 1000).max(20)
    } else if cfg!(debug_assertions) {
        (release / 10).max(50)
    } else {
        release
    }
}

// ---- fixtures -------------------------------------------------------------------------------

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The byte written at offset `i` of a block tagged `seed`.
fn token(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(31) ^ ((i >> 8) as u8)
}

/// Offsets that carry tokens: the first and last 32 bytes (all bytes of small blocks).
fn token_offsets(size: usize) -> impl Iterator<Item = usize> {
    let head = size.min(32);
    let tail_from = size.saturating_sub(32).max(head);
    (0..head).chain(tail_from..size)
}

fn fill_tokens(p: NonNull<u8>, size: usize, seed: u8) {
    for i in token_offsets(size) {
        // SAFETY: `p` is a live block of at least `size` bytes.
        unsafe { p.as_ptr().add(i).write(token(seed, i)) };
    }
}

fn check_tokens(p: NonNull<u8>, size: usize, seed: u8, what: &str) {
    for i in token_offsets(size) {
        // SAFETY: `p` is a live block of at least `size` bytes whose token bytes were written.
        let got = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(got, token(seed, i), "{what}: byte {i} of block {p:p} (size {size}) changed");
    }
}

/// A live block in the shadow model.
#[derive(Clone, Copy)]
struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    seed: u8,
    /// Index in `Shadow::keys`.
    slot: usize,
}

/// The oracle: every live block, checked for alignment, bounds and overlap on each allocation
/// and for intact contents on each free.
#[derive(Default)]
struct Shadow {
    live: BTreeMap<usize, Live>,
    /// The addresses of `live`, for picking one at random in O(1).
    keys: Vec<usize>,
    /// Raw ranges of the claimed regions.
    regions: Vec<(usize, usize)>,
}

impl Shadow {
    fn add(&mut self, ptr: NonNull<u8>, layout: Layout, seed: u8) {
        let a = ptr.as_ptr().addr();
        let len = layout.size().max(1);
        assert_eq!(a % layout.align(), 0, "block {a:#x} misaligned for {layout:?}");
        assert!(
            self.regions.iter().any(|&(s, e)| a >= s && a + len <= e),
            "block {a:#x}+{len} outside every region"
        );
        if let Some((&pa, pl)) = self.live.range(..=a).next_back() {
            assert!(pa + pl.layout.size().max(1) <= a, "block {a:#x} overlaps {pa:#x}");
        }
        if let Some((&na, _)) = self.live.range(a..).next() {
            assert!(a + len <= na, "block {a:#x}+{len} overlaps {na:#x}");
        }
        fill_tokens(ptr, layout.size(), seed);
        self.live.insert(a, Live { ptr, layout, seed, slot: self.keys.len() });
        self.keys.push(a);
    }

    /// Records a claimed range, joined with ranges it touches (merged regions).
    fn add_region(&mut self, start: usize, end: usize) {
        let (mut s, mut e) = (start, end);
        self.regions.retain(|&(rs, re)| {
            if re == s || rs == e {
                s = s.min(rs);
                e = e.max(re);
                false
            } else {
                true
            }
        });
        self.regions.push((s, e));
    }

    fn remove(&mut self, a: usize) -> Live {
        let l = self.take(a);
        check_tokens(l.ptr, l.layout.size(), l.seed, "contents");
        l
    }

    /// Forgets a block without checking its contents.
    fn take(&mut self, a: usize) -> Live {
        let l = self.live.remove(&a).expect("a block the model does not know");
        self.keys.swap_remove(l.slot);
        if let Some(&moved) = self.keys.get(l.slot) {
            self.live.get_mut(&moved).unwrap().slot = l.slot;
        }
        l
    }

    fn nth(&self, n: usize) -> usize {
        self.keys[n]
    }
}

/// What the physical walk of a heap finds.
#[derive(Debug, PartialEq, Eq)]
struct Census {
    regions: usize,
    used: usize,
    free: usize,
    free_bytes: usize,
    span_bytes: usize,
    largest_free: usize,
}

impl<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool>
    TlsfWith<FL, SL, G, HARDENED>
{
    /// Walks every region (the heap must be valid).
    fn census(&self) -> Census {
        let mut c =
            Census { regions: 0, used: 0, free: 0, free_bytes: 0, span_bytes: 0, largest_free: 0 };
        if self.ctrl.is_null() {
            return c;
        }
        // SAFETY: a valid heap's region list and blocks (TL1, TL8).
        unsafe {
            let mut t = self.ctrl.add(Self::C_REGIONS).cast::<*mut u8>().read();
            while !t.is_null() {
                c.regions += 1;
                let first = word(t, T_FIRST);
                c.span_bytes += t.addr() - first.addr();
                let mut b = first;
                while b < t {
                    let hv = word_usize(b, 0);
                    let size = hv & !FLAGS;
                    // Not `FREE`: a used block's `PREV_MIN` is the same bit (TL3).
                    if hv & USED == 0 {
                        c.free += 1;
                        c.free_bytes += size;
                        c.largest_free = c.largest_free.max(size);
                    } else {
                        c.used += 1;
                    }
                    b = b.add(size);
                }
                t = word(t, T_NEXT);
            }
        }
        c
    }

    /// A heap with one region over all of `arena`.
    fn on(arena: &Arena) -> (Self, usize) {
        let mut h = Self::new();
        let usable = h.claim_pieces(arena, 0, arena.len()).unwrap();
        h.validate().unwrap();
        (h, usable)
    }

    /// Claims `[off, off + len)` of `arena` in pieces no longer than the heap uses (a region
    /// beyond the largest block would be cut), as a user with a large area would. Returns the
    /// total, or the first piece's error.
    fn claim_pieces(
        &mut self,
        arena: &Arena,
        off: usize,
        len: usize,
    ) -> Result<usize, RegionError> {
        let piece = Self::MAX_BLOCK + 2 * G + TRAILER;
        let mut total = 0;
        let mut at = 0;
        while at < len {
            let first = if self.ctrl.is_null() { Self::CONTROL_BLOCK_SIZE } else { 0 };
            let n = (len - at).min(piece + first);
            match self.claim(arena.region(off + at, n)) {
                Ok(u) => total += u,
                Err(e) if at == 0 => return Err(e),
                Err(_) => {}
            }
            at += n;
        }
        Ok(total)
    }
}

/// The allocation sizes of the random tests: mostly small (the common case), some 2^k ± 1,
/// some large, never above `max`.
fn gen_size(rng: &mut Rng, max: usize) -> usize {
    let s = match rng.below(100) {
        0..=49 => rng.below(129),
        50..=74 => rng.below(2049),
        75..=86 => {
            let k = 1 + rng.below(20);
            ((1usize << k) + rng.below(3)).saturating_sub(1)
        }
        87..=97 => rng.below(65537),
        _ => rng.below(max / 4 + 1),
    };
    s.min(max)
}

/// Alignments: mostly at most 8, some 16, a few up to 4096.
fn gen_align(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=84 => 1 << rng.below(4),
        85..=94 => 16,
        _ => 1 << (5 + rng.below(8)),
    }
}

/// Limits a test arena to 32 largest blocks, so that configurations with tiny blocks do not
/// turn a test into thousands of regions.
fn cap<const FL: usize, const SL: usize, const G: usize>(len: usize) -> usize {
    let piece = TlsfWith::<FL, SL, G>::MAX_BLOCK + 2 * G + TRAILER;
    len.min(piece.saturating_mul(32).saturating_add(TlsfWith::<FL, SL, G>::CONTROL_BLOCK_SIZE))
}

/// Random alloc / free / grow / shrink / claim against the shadow model.
///
/// The arena is claimed in four pieces over the run: the first quarter at the start, then the
/// second quarter (merged by appending), then the last quarter (a separate region), then the
/// third quarter (touching both neighbours: merged into one of them). Returns the number of
/// operations done.
fn random_ops<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool>(
    seed: u64,
    ops: usize,
    arena_len: usize,
    validate_every: usize,
    target_live: usize,
) -> usize {
    let arena = Arena::new(cap::<FL, SL, G>(arena_len));
    let arena_len = arena.len();
    let quarter = arena_len / 4;
    let pieces = [
        (0, quarter),
        (quarter, quarter),
        (3 * quarter, arena_len - 3 * quarter),
        (2 * quarter, quarter),
    ];
    let mut heap = TlsfWith::<FL, SL, G, HARDENED>::new();
    let mut shadow = Shadow::default();
    let mut rng = Rng::new(seed);
    let max_size = TlsfWith::<FL, SL, G>::MAX_ALLOCATION.min(arena_len / 8);
    let mut claimed = 0;
    for op in 0..ops {
        if claimed < 4 && op >= ops * claimed / 4 {
            let (off, len) = pieces[claimed];
            if heap.claim_pieces(&arena, off, len).is_ok() {
                shadow.add_region(arena.addr() + off, arena.addr() + off + len);
            }
            claimed += 1;
            heap.validate().unwrap();
        }
        let n = shadow.live.len();
        let roll = rng.below(100);
        let alloc_pct = if n < target_live { 60 } else { 35 };
        if n == 0 || roll < alloc_pct {
            let layout =
                Layout::from_size_align(gen_size(&mut rng, max_size), gen_align(&mut rng)).unwrap();
            match heap.allocate(layout) {
                Some(p) => shadow.add(p, layout, rng.next() as u8),
                None => {
                    // Out of memory (E1): free a few to make room.
                    for _ in 0..n.min(4) {
                        let a = shadow.nth(rng.below(shadow.live.len()));
                        let l = shadow.remove(a);
                        // SAFETY: a live block of this heap with its layout.
                        unsafe { heap.deallocate(l.ptr, l.layout) };
                    }
                }
            }
        } else if roll < alloc_pct + 25 {
            let a = shadow.nth(rng.below(n));
            let l = shadow.remove(a);
            // SAFETY: a live block of this heap with its layout.
            unsafe { heap.deallocate(l.ptr, l.layout) };
        } else {
            let a = shadow.nth(rng.below(n));
            let l = shadow.live[&a];
            let new_size = gen_size(&mut rng, max_size);
            // SAFETY: a live block with its layout; the size relation picks grow or shrink.
            let r = unsafe {
                if new_size >= l.layout.size() {
                    heap.grow(l.ptr, l.layout, new_size)
                } else {
                    heap.shrink(l.ptr, l.layout, new_size)
                }
            };
            match r {
                Some(p) => {
                    let old = shadow.take(a);
                    let kept = old.layout.size().min(new_size);
                    check_tokens(p, kept.min(32), old.seed, "realloc prefix");
                    if kept == old.layout.size() && kept == new_size {
                        check_tokens(p, kept, old.seed, "realloc to the same size");
                    }
                    let layout = Layout::from_size_align(new_size, old.layout.align()).unwrap();
                    shadow.add(p, layout, rng.next() as u8);
                }
                None => {
                    assert!(new_size > l.layout.size(), "shrink must not fail");
                    check_tokens(l.ptr, l.layout.size(), l.seed, "failed grow left the block");
                }
            }
        }
        if validate_every != 0 && op % validate_every == 0 {
            if let Err(e) = heap.validate() {
                panic!("op {op}: {e}");
            }
        }
    }
    heap.validate().unwrap();
    drain_to_pristine(&mut heap, &mut shadow, &mut rng);
    ops
}

/// Frees every live block in random order and checks the heap is as freshly claimed (E3):
/// one free block per region covering its whole span.
fn drain_to_pristine<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool>(
    heap: &mut TlsfWith<FL, SL, G, HARDENED>,
    shadow: &mut Shadow,
    rng: &mut Rng,
) {
    while !shadow.live.is_empty() {
        let a = shadow.nth(rng.below(shadow.live.len()));
        let l = shadow.remove(a);
        // SAFETY: a live block of this heap with its layout.
        unsafe { heap.deallocate(l.ptr, l.layout) };
    }
    heap.validate().unwrap();
    let c = heap.census();
    assert_eq!(c.used, 0, "{c:?}");
    assert_eq!(c.free, c.regions, "one free block per region: {c:?}");
    assert_eq!(c.free_bytes, c.span_bytes, "{c:?}");
}

// ---- the mapping ----------------------------------------------------------------------------

/// `floor_index(u)` is the class whose range contains `u`, `ceil_index(u)` the first class whose
/// smallest block holds `u`.
fn check_mapping_at(u: usize, sl_log2: u32) {
    let f = floor_index(u, sl_log2);
    assert!(
        class_base(f, sl_log2) <= u && u < class_base(f + 1, sl_log2),
        "floor({u}) = {f}, sl_log2 {sl_log2}"
    );
    let c = ceil_index(u, sl_log2);
    assert!(class_base(c, sl_log2) >= u, "ceil({u}) = {c} too small");
    assert!(c == 0 || class_base(c - 1, sl_log2) < u, "ceil({u}) = {c} not the first");
    if u < 2 << sl_log2 {
        assert_eq!((f, c), (u, u), "sizes below 2·SL granules are exact classes");
    }
    assert_eq!(floor_index_with(u, sl_log2, false), f, "no-clz floor({u})");
    assert_eq!(ceil_index_with(u, sl_log2, false), c, "no-clz ceil({u})");
    for g_log2 in [3, 4, 5] {
        if let Some(bytes) = u.checked_mul(1 << g_log2) {
            for low in [0, (1 << g_log2) - 1] {
                assert_eq!(floor_index_bytes(bytes | low, sl_log2, g_log2), f, "{u} << {g_log2}");
                for (clz, inline) in [(true, false), (false, false), (false, true)] {
                    let i = floor_index_bytes_with(bytes | low, sl_log2, g_log2, clz, inline);
                    assert_eq!(i, f, "{u} << {g_log2}, clz {clz}, inline {inline}");
                }
            }
        }
    }
}

/// Every block size from 0 to `max_units` granules (step 1), checked incrementally: the floor
/// class advances exactly at each class base, and the ceil class is the floor class at a base
/// and the next one elsewhere.
fn check_mapping_exhaustive(sl_log2: u32, max_units: usize) {
    let mut f = 0;
    let mut next_base = class_base(1, sl_log2);
    assert_eq!((floor_index(0, sl_log2), ceil_index(0, sl_log2)), (0, 0));
    let mut u = 1;
    while u <= max_units {
        if u == next_base {
            f += 1;
            next_base = class_base(f + 1, sl_log2);
            assert!(next_base > u);
            assert_eq!(floor_index(u, sl_log2), f, "u {u}");
            assert_eq!(floor_index_with(u, sl_log2, false), f, "no-clz u {u}");
            assert_eq!(floor_index_bytes(u << 3, sl_log2, 3), f, "u {u}");
            for inline in [false, true] {
                let i = floor_index_bytes_with(u << 3, sl_log2, 3, false, inline);
                assert_eq!(i, f, "no-clz u {u}, inline {inline}");
            }
            assert_eq!(ceil_index(u, sl_log2), f, "u {u}");
            assert_eq!(ceil_index_with(u, sl_log2, false), f, "no-clz u {u}");
        } else {
            assert_eq!(floor_index(u, sl_log2), f, "u {u}");
            assert_eq!(floor_index_with(u, sl_log2, false), f, "no-clz u {u}");
            assert_eq!(floor_index_bytes(u << 3, sl_log2, 3), f, "u {u}");
            for inline in [false, true] {
                let i = floor_index_bytes_with(u << 3, sl_log2, 3, false, inline);
                assert_eq!(i, f, "no-clz u {u}, inline {inline}");
            }
            assert_eq!(ceil_index(u, sl_log2), f + 1, "u {u}");
            assert_eq!(ceil_index_with(u, sl_log2, false), f + 1, "no-clz u {u}");
        }
        u += 1;
    }
}

/// J3: the size ↔ class round trip over every 32-bit block size (every multiple of the 8-byte
/// granule below 2^32), for the second-level counts 8 (the 32-bit default), 16 and 32. Release
/// builds check every size; debug builds a sample. The mapping tests do not run under Miri: the
/// mapping is pure integer code, and there they took 311 s of CI's Miri step.
#[test]
#[cfg_attr(
    miri,
    ignore = "pure integer code (no unsafe, no memory access), run natively in every build"
)]
fn cat_j3_mapping_round_trip_exhaustive_over_u32_sizes() {
    let units = (1usize << 32) / 8 - 1;
    for sl_log2 in [3, 4, 5] {
        if cfg!(debug_assertions) {
            let stride = 997;
            let mut u = 0;
            while u <= units {
                check_mapping_at(u, sl_log2);
                u += stride;
            }
            for u in 0..4096 {
                check_mapping_at(u, sl_log2);
            }
        } else {
            check_mapping_exhaustive(sl_log2, units);
        }
    }
}

/// Every second-level count, exhaustively below 2^20 granules (each a quick run).
#[test]
#[cfg_attr(
    miri,
    ignore = "pure integer code (no unsafe, no memory access), run natively in every build"
)]
fn mapping_every_sl_count_round_trips_below_2_pow_20() {
    let top = if cfg!(debug_assertions) { 1 << 16 } else { 1 << 20 };
    for sl_log2 in 0..=6 {
        check_mapping_exhaustive(sl_log2, top);
    }
}

/// 64-bit sizes: around every power of two and at random, up to 2^60 granules.
#[test]
#[cfg_attr(
    miri,
    ignore = "pure integer code (no unsafe, no memory access), run natively in every build"
)]
fn mapping_64_bit_sizes_round_trip_at_powers_of_two_and_random() {
    let mut rng = Rng::new(7);
    for sl_log2 in 0..=6 {
        for k in 0..61 {
            for d in 0..7usize {
                let u = (1usize << k).wrapping_add(d).wrapping_sub(3);
                if u < 1 << 61 {
                    check_mapping_at(u, sl_log2);
                }
            }
        }
        for _ in 0..scaled(200_000) {
            let u = (rng.next() >> (3 + rng.below(60))) as usize;
            check_mapping_at(u, sl_log2);
        }
    }
}

/// `log2_by_compares` (the mapping's `log2` on cores without count-leading-zeros) agrees with
/// `leading_zeros` on every `u32` (release builds; a sample in debug builds), and
/// around every power of two of `usize`.
#[test]
#[cfg_attr(
    miri,
    ignore = "pure integer code (no unsafe, no memory access), run natively in every build"
)]
fn log2_by_compares_matches_leading_zeros() {
    let stride = if cfg!(debug_assertions) { 997 } else { 1 };
    let mut x: u64 = 1;
    while x <= u64::from(u32::MAX) {
        let x32 = x as usize;
        assert_eq!(log2_by_compares(x32), usize::BITS - 1 - x32.leading_zeros(), "x {x}");
        x += stride;
    }
    for k in 0..usize::BITS {
        for x in [
            (1usize << k),
            (1 << k) + 1,
            (1usize << k).wrapping_sub(1),
            (2usize << k).wrapping_sub(1),
        ] {
            if x != 0 {
                assert_eq!(log2_by_compares(x), usize::BITS - 1 - x.leading_zeros(), "x {x}");
            }
        }
    }
    assert_eq!(log2_by_compares(0), 0);
}

/// The largest granule counts a request can produce do not overflow the rounding.
#[test]
fn mapping_ceil_of_largest_request_does_not_overflow() {
    let units = (isize::MAX as usize + 16 + 15) >> 3;
    for sl_log2 in 0..=6 {
        let c = ceil_index(units, sl_log2);
        assert!(c >= floor_index(units, sl_log2));
        assert_eq!(ceil_index_with(units, sl_log2, false), c);
    }
}

// ---- the configuration matrix ---------------------------------------------------------------

/// One test per catalogue row and property, instantiated for each configuration by `suite!`.
mod generic {
    use super::*;

    pub(super) fn random_ops_match_shadow_model<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = if cfg!(miri) { 64 << 10 } else { 4 << 20 };
        random_ops::<FL, SL, G, false>(1, scaled(40_000), arena, 97, 300);
        random_ops::<FL, SL, G, false>(2, scaled(20_000), arena / 16, 61, 60);
    }

    pub(super) fn random_ops_validate_after_every_op<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        random_ops::<FL, SL, G, false>(3, scaled(4_000), 256 << 10, 1, 40);
    }

    /// A1: every length from 0 to past the minimum, base aligned to `G`: `TooSmall` writes
    /// nothing; `Ok` writes nothing outside the region.
    pub(super) fn cat_a1_region_lengths_around_minimum<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let arena = Arena::zeroed(min + 4 * G + 256);
        let lens: Vec<usize> = if cfg!(miri) {
            std::vec![0, 1, min - 1, min, min + 1, min + G + 1]
        } else {
            (0..=min + 4 * G).collect()
        };
        for len in lens {
            arena.fill(0xA5);
            let before = arena.snapshot();
            let mut h = TlsfWith::<FL, SL, G>::new();
            let r = if len == 0 {
                // `Region` refuses empty ranges itself.
                // SAFETY: fails before any access.
                let r = unsafe { Region::new(arena.ptr().add(128), 0) };
                assert_eq!(r, Err(RegionError::TooSmall { min: 1 }));
                continue;
            } else {
                h.claim(arena.region(128, len))
            };
            let after = arena.snapshot();
            match r {
                Ok(usable) => {
                    assert!(len >= min, "len {len} accepted below the promised minimum {min}");
                    assert!(usable >= TlsfWith::<FL, SL, G>::MIN_BLOCK - W);
                    assert_eq!(before[..128], after[..128], "len {len}: wrote before the region");
                    assert_eq!(
                        before[128 + len..],
                        after[128 + len..],
                        "len {len}: wrote after it"
                    );
                    h.validate().unwrap();
                    let c = h.census();
                    if c.regions == 1 {
                        assert_eq!(usable, c.largest_free - W);
                    }
                    let p = h.allocate(Layout::from_size_align(c.largest_free - W, 1).unwrap());
                    assert!(p.is_some(), "len {len}: the largest free block is allocatable");
                }
                Err(e) => {
                    assert!(len < min, "len {len} >= min {min} refused: {e:?}");
                    assert_eq!(e, RegionError::TooSmall { min });
                    assert!(before == after, "len {len}: a refused claim wrote");
                    assert!(h.allocate(Layout::new::<u8>()).is_none());
                }
            }
        }
    }

    /// A2: every base offset mod 64 with lengths around the minimum: no write outside the
    /// region, blocks aligned.
    pub(super) fn cat_a2_misaligned_bases_and_odd_lengths<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let arena = Arena::zeroed(min + 4096);
        let lens = [min - 1, min, min + 1, min + G - 1, min + G + 3, min + 333];
        let step = if cfg!(miri) { 13 } else { 1 };
        for off in (0..64).step_by(step) {
            for &len in &lens {
                arena.fill(0x5A);
                let before = arena.snapshot();
                let mut h = TlsfWith::<FL, SL, G>::new();
                let r = h.claim(arena.region(64 + off, len));
                let after = arena.snapshot();
                assert_eq!(before[..64 + off], after[..64 + off], "off {off} len {len}");
                assert_eq!(
                    before[64 + off + len..],
                    after[64 + off + len..],
                    "off {off} len {len}"
                );
                if r.is_ok() {
                    h.validate().unwrap();
                    let largest = h.census().largest_free - W;
                    let p = h.allocate(Layout::from_size_align(largest, 1).unwrap()).unwrap();
                    assert_eq!(p.as_ptr().addr() % G, 0);
                    assert!(p.as_ptr().addr() + largest <= arena.addr() + 64 + off + len);
                } else {
                    assert!(before == after);
                    assert!(len < min + G, "off {off} len {len} refused");
                }
            }
        }
    }

    /// A3: regions ending at the top of the address space, too small to hold anything, are
    /// refused with `TooSmall` and no overflow (fake addresses: nothing may be read or
    /// written). A first region and a later one take different paths.
    pub(super) fn cat_a3_regions_at_top_of_address_space_are_refused<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        // Below this, no base helps: at best the first header is at the base itself.
        let refused_below = TlsfWith::<FL, SL, G>::min_region_size() - (G - W);
        let arena = Arena::new(cap::<FL, SL, G>(64 << 10));
        for first in [true, false] {
            let mut h = TlsfWith::<FL, SL, G>::new();
            if !first {
                h.claim_pieces(&arena, 0, arena.len()).unwrap();
            }
            for len in [1, 7, 8, W, refused_below / 2, refused_below - 1] {
                for slack in [0, 1, 5, G] {
                    let base =
                        core::ptr::without_provenance_mut::<u8>(usize::MAX - len + 1 - slack);
                    // SAFETY: the fake range is never accessed: `claim` must refuse it first.
                    let Ok(r) = (unsafe { Region::new(base, len) }) else { continue };
                    assert!(
                        matches!(h.claim(r), Err(RegionError::TooSmall { .. })),
                        "len {len} slack {slack} first {first}"
                    );
                }
            }
            h.validate().unwrap();
        }
    }

    /// A4: the same bytes twice, or overlapping halves: `Overlap`, nothing written.
    pub(super) fn cat_a4_overlapping_region_is_rejected_without_write<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let len = 2 * min + 1024;
        let arena = Arena::zeroed(3 * len);
        let mut h = TlsfWith::<FL, SL, G>::new();
        h.claim(arena.region(len, len)).unwrap();
        let regions = h.census().regions;
        let before = arena.snapshot();
        for (off, l) in [
            (len, len),
            (len / 2, len),
            (len + len / 2, len),
            (len + 8, 64),
            (0, 3 * len),
            (len - 8, 16),
        ] {
            assert_eq!(h.claim(arena.region(off, l)), Err(RegionError::Overlap), "{off}+{l}");
        }
        assert!(before == arena.snapshot(), "a refused claim wrote");
        h.validate().unwrap();
        assert_eq!(h.census().regions, regions);
    }

    /// A5: allocation and free before any claim.
    pub(super) fn cat_a5_allocate_before_claim_returns_none<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let mut h = TlsfWith::<FL, SL, G>::new();
        for align in [1, 8, 64, 4096] {
            for size in [0, 1, 100, usize::MAX >> 2] {
                if let Ok(l) = Layout::from_size_align(size, align) {
                    assert!(h.allocate(l).is_none());
                }
            }
        }
        h.validate().unwrap();
        let mut x = 0u64;
        // SAFETY: the heap owns nothing; a foreign pointer must be ignored (and is not read).
        unsafe { h.deallocate(NonNull::from(&mut x).cast(), Layout::new::<u64>()) };
        assert_eq!(h.probe.invalid_count, 1);
    }

    /// A6: a region after or before a claimed one is merged; one allocation can span both.
    pub(super) fn cat_a6_adjacent_regions_merge<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let piece = (min + 512).min(TlsfWith::<FL, SL, G>::MAX_BLOCK / 4).max(min);
        let arena = Arena::new(8 * piece);
        let mut h = TlsfWith::<FL, SL, G>::new();
        let mut total = h.claim(arena.region(0, piece)).unwrap();
        // Append: begins where the first ends.
        let r2 = TlsfWith::<FL, SL, G>::min_region_size();
        for k in 0..3 {
            let off = piece + k * r2;
            let before = h.census().span_bytes;
            match h.claim(arena.region(off, r2)) {
                Ok(added) => {
                    total += added;
                    h.validate().unwrap();
                    let c = h.census();
                    if c.regions == 1 {
                        assert_eq!(c.span_bytes, before + added + W, "append added its bytes");
                    }
                }
                Err(e) => panic!("append {k}: {e:?}"),
            }
        }
        let c = h.census();
        if 3 * r2 + piece <= TlsfWith::<FL, SL, G>::MAX_BLOCK {
            assert_eq!(c.regions, 1, "appended regions merged: {c:?}");
            assert_eq!(c.free, 1);
            let p = h.allocate(Layout::from_size_align(c.largest_free - W, 1).unwrap());
            assert!(p.is_some(), "one block spans the merged regions");
            // SAFETY: allocated just above.
            unsafe { h.deallocate(p.unwrap(), Layout::new::<u8>()) };
        }
        // Prepend: a region that ends where a later (non-control) region begins.
        let far = 5 * piece;
        h.claim(arena.region(far, piece)).unwrap();
        let regions = h.census().regions;
        h.claim(arena.region(far - piece, piece)).unwrap();
        h.validate().unwrap();
        let c = h.census();
        if 2 * piece <= TlsfWith::<FL, SL, G>::MAX_BLOCK {
            assert_eq!(c.regions, regions, "prepended region merged: {c:?}");
        }
        let _ = total;
        // Never in front of the first region (its control block precedes its first block),
        // also once later regions follow it in the list.
        let arena = Arena::new(4 * piece);
        let mut h = TlsfWith::<FL, SL, G>::new();
        h.claim(arena.region(piece, piece)).unwrap();
        h.claim(arena.region(3 * piece, piece)).unwrap();
        h.claim(arena.region(0, piece)).unwrap();
        h.validate().unwrap();
        assert_eq!(h.census().regions, 3, "merged in front of the first region");
    }

    /// A6 with R3: touching regions that may not merge (from `'static` buffers) stay apart.
    pub(super) fn cat_a6_static_regions_never_merge<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        if cfg!(miri) {
            return; // the `'static` buffer is leaked, which Miri reports
        }
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let len = 2 * min + 256;
        let mem: &'static mut [core::mem::MaybeUninit<u8>] = std::boxed::Box::leak(
            std::vec![core::mem::MaybeUninit::uninit(); 2 * len].into_boxed_slice(),
        );
        let mut back = Region::from_static(mem).unwrap();
        assert!(!back.may_merge());
        let front = back.split_off_front(len).unwrap();
        let mut h = TlsfWith::<FL, SL, G>::new();
        h.claim(front).unwrap();
        h.claim(back).unwrap();
        h.validate().unwrap();
        assert_eq!(h.census().regions, 2, "R3: no merge across separate objects");
    }

    /// B1: 1000 zero-size allocations are distinct blocks.
    pub(super) fn cat_b1_zero_size_allocations_are_unique<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(256 << 10));
        let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
        let mut shadow = Shadow {
            regions: std::vec![(arena.addr(), arena.addr() + arena.len())],
            ..Shadow::default()
        };
        for i in 0..if cfg!(miri) { 100 } else { 1000 } {
            let l = Layout::from_size_align(0, 1 << (i % 6)).unwrap();
            // Alignments above a tiny configuration's largest block fail; skip those.
            let Some(p) = h.allocate(l) else { continue };
            shadow.add(p, l, 0);
        }
        assert!(shadow.live.len() >= 32, "{}", shadow.live.len());
        h.validate().unwrap();
        drain_to_pristine(&mut h, &mut shadow, &mut Rng::new(5));
    }

    /// B2/B3: every alignment 2^0..2^(BITS−1) × sizes near powers of two and near `isize::MAX`:
    /// no panic; each result is `None` or aligned and inside the arena. Then the same sizes as
    /// grow/shrink targets (D4).
    pub(super) fn cat_b2_b3_layout_grid_never_panics<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(if cfg!(miri) { 64 << 10 } else { 1 << 20 }));
        let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
        // Miri: every fifth power of two and every seventh alignment.
        let step = if cfg!(miri) { 5 } else { 1 };
        let mut sizes = std::vec![0usize, 1, 2, 3];
        for k in (2..usize::BITS - 1).step_by(step) {
            sizes.extend([(1usize << k) - 1, 1 << k, (1 << k) + 1]);
        }
        let mut shadow = Shadow {
            regions: std::vec![(arena.addr(), arena.addr() + arena.len())],
            ..Shadow::default()
        };
        for a in
            (0..usize::BITS - 1).step_by(if cfg!(miri) { 7 } else { 1 }).chain([usize::BITS - 2])
        {
            let align = 1usize << a;
            let mut these = sizes.clone();
            these.push(isize::MAX as usize - align + 1);
            these.push((isize::MAX as usize - align).div_ceil(2));
            for &size in &these {
                let Ok(l) = Layout::from_size_align(size, align) else { continue };
                if let Some(p) = h.allocate(l) {
                    shadow.add(p, l, a as u8);
                    let l2 = shadow.remove(p.as_ptr().addr());
                    // SAFETY: just allocated with `l`.
                    unsafe { h.deallocate(l2.ptr, l2.layout) };
                }
            }
        }
        h.validate().unwrap();
        // D4: realloc targets from the grid on one live block.
        let l = Layout::from_size_align(24, 8).unwrap();
        let mut p = h.allocate(l).unwrap();
        fill_tokens(p, 24, 9);
        for &size in sizes.iter().chain([isize::MAX as usize, usize::MAX - 7, usize::MAX].iter()) {
            // SAFETY: `p` is live with layout `l`; the size relation picks grow or shrink.
            let r = unsafe {
                if size >= 24 {
                    h.grow(p, l, size)
                } else {
                    h.shrink(p, l, size)
                }
            };
            match r {
                Some(q) => {
                    check_tokens(q, 24.min(size), 9, "realloc");
                    let lq = Layout::from_size_align(size, 8).unwrap();
                    // SAFETY: `q` is live with `lq`; back to a fresh 24-byte block.
                    unsafe { h.deallocate(q, lq) };
                    p = h.allocate(l).unwrap();
                    fill_tokens(p, 24, 9);
                }
                None => {
                    assert!(size > 24, "shrink never fails");
                    check_tokens(p, 24, 9, "failed grow");
                }
            }
            h.validate().unwrap();
        }
        // SAFETY: `p` is live with layout `l`.
        unsafe { h.deallocate(p, l) };
        h.validate().unwrap();
        let c = h.census();
        assert_eq!((c.used, c.free), (0, c.regions));
    }

    /// B4: sizes at every class edge (smallest block of the class, minus/plus one byte) and
    /// 2^k ± 1: usable size ≥ request, contents kept, no overlap.
    pub(super) fn cat_b4_size_class_edges_and_powers_of_two<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(if cfg!(miri) { 64 << 10 } else { 8 << 20 }));
        let (mut h, usable) = TlsfWith::<FL, SL, G>::on(&arena);
        let max = TlsfWith::<FL, SL, G>::MAX_ALLOCATION.min(usable / 4);
        let mut sizes = Vec::new();
        for idx in 0..FL * SL {
            let m = TlsfWith::<FL, SL, G>::class_min(idx);
            if m < W || m - W > max {
                break;
            }
            sizes.extend([m - W - 1, m - W, m - W + 1]);
        }
        for k in 0..usize::BITS {
            let p = 1usize << k;
            if p > max {
                break;
            }
            sizes.extend([p - 1, p, p + 1]);
        }
        sizes.retain(|&s| s <= max);
        let mut shadow = Shadow {
            regions: std::vec![(arena.addr(), arena.addr() + arena.len())],
            ..Shadow::default()
        };
        for (i, &size) in sizes.iter().enumerate() {
            let l = Layout::from_size_align(size, 1 << (i % 5)).unwrap();
            let p = h
                .allocate(l)
                .unwrap_or_else(|| panic!("size {size} failed {l:?} {:?}", h.census()));
            shadow.add(p, l, i as u8);
            if shadow.live.len() > 8 {
                let a = shadow.nth(i % shadow.live.len());
                let l = shadow.remove(a);
                // SAFETY: live block with its layout.
                unsafe { h.deallocate(l.ptr, l.layout) };
            }
        }
        h.validate().unwrap();
        drain_to_pristine(&mut h, &mut shadow, &mut Rng::new(3));
        // The class of each edge size is the one the mapping promises.
        for idx in 1..(FL * SL).min(200) {
            let m = TlsfWith::<FL, SL, G>::class_min(idx);
            if m >= TlsfWith::<FL, SL, G>::MIN_BLOCK && m <= TlsfWith::<FL, SL, G>::MAX_BLOCK {
                let (fl, sl) = TlsfWith::<FL, SL, G>::class_of(m);
                assert_eq!(fl * SL + sl, idx);
                let (fl, sl) = TlsfWith::<FL, SL, G>::class_of(m - G);
                assert_eq!(fl * SL + sl, idx - 1);
            }
        }
    }

    /// C4: freeing with a different layout uses the header, not the layout.
    pub(super) fn cat_c4_dealloc_with_wrong_layout_uses_header<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(256 << 10));
        let (mut h, usable) = TlsfWith::<FL, SL, G>::on(&arena);
        let max = TlsfWith::<FL, SL, G>::MAX_ALLOCATION.min(4096);
        for (s, s2) in [(1, max), (max, 1), (100.min(max), 0), (0, 4096)] {
            let p = h.allocate(Layout::from_size_align(s, 8).unwrap()).unwrap();
            let q = h.allocate(Layout::from_size_align(s, 8).unwrap()).unwrap();
            fill_tokens(q, s, 1);
            // SAFETY: deliberately the wrong layout; the heap must not use it for metadata.
            unsafe { h.deallocate(p, Layout::from_size_align(s2, 1 << 12).unwrap()) };
            h.validate().unwrap();
            check_tokens(q, s, 1, "neighbour of a wrong-layout free");
            // SAFETY: as above.
            unsafe { h.deallocate(q, Layout::from_size_align(s2, 1).unwrap()) };
            h.validate().unwrap();
        }
        // Everything came back: one free block per region.
        let c = h.census();
        assert_eq!((c.used, c.free, c.free_bytes), (0, c.regions, c.span_bytes));
        if c.regions == 1 {
            assert!(h.allocate(Layout::from_size_align(usable, 1).unwrap()).is_some());
        }
    }

    /// D1/D2/D5: moving grow copies `min(old, new)` bytes and keeps the alignment; grow absorbs
    /// a free successor in place; shrink stays in place and frees its tail; same-size realloc
    /// is a no-op; shrink to 1.
    pub(super) fn cat_d1_d2_d5_realloc_in_place_and_moving<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(1 << 20));
        let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
        let max = TlsfWith::<FL, SL, G>::MAX_ALLOCATION;
        let small = 40.min(max / 4);
        for align in [1, 8, 16, 64, 256, 4096] {
            let bs = TlsfWith::<FL, SL, G>::block_size(small).unwrap();
            if 4 * bs + align + TlsfWith::<FL, SL, G>::MIN_BLOCK > TlsfWith::<FL, SL, G>::MAX_BLOCK
            {
                continue; // the configuration's blocks are too small for this alignment
            }
            let l = Layout::from_size_align(small, align).unwrap();
            let a = h.allocate(l).unwrap();
            let b = h.allocate(Layout::from_size_align(small, 8).unwrap()).unwrap();
            let c = h.allocate(Layout::from_size_align(small, 8).unwrap()).unwrap();
            fill_tokens(a, small, 1);
            // In place: `b` after `a` is freed, so `a` can grow into it... if they are adjacent.
            let adjacent = a.as_ptr().addr() + TlsfWith::<FL, SL, G>::block_size(small).unwrap()
                == b.as_ptr().addr();
            // SAFETY: live block with its layout.
            unsafe { h.deallocate(b, Layout::from_size_align(small, 8).unwrap()) };
            let grown = small + 8;
            // SAFETY: `a` is live with `l`; `grown >= small`.
            let a2 = unsafe { h.grow(a, l, grown) }.unwrap();
            if adjacent && grown <= max {
                assert_eq!(a2, a, "grow into the free successor is in place");
            }
            check_tokens(a2, small, 1, "grow");
            assert_eq!(a2.as_ptr().addr() % align, 0);
            h.validate().unwrap();
            let l2 = Layout::from_size_align(grown, align).unwrap();
            // Moving grow: `c` blocks the successor now (unless it was absorbed).
            fill_tokens(a2, grown, 2);
            let big = (grown * 4).min(max);
            // SAFETY: live with `l2`.
            let a3 = unsafe { h.grow(a2, l2, big) }.unwrap();
            check_tokens(a3, grown, 2, "moving grow");
            assert_eq!(a3.as_ptr().addr() % align, 0, "D2: alignment kept");
            h.validate().unwrap();
            // Shrink in place, down to 1 byte.
            let l3 = Layout::from_size_align(big, align).unwrap();
            fill_tokens(a3, big, 3);
            // SAFETY: live with `l3`.
            let a4 = unsafe { h.shrink(a3, l3, 1) }.unwrap();
            assert_eq!(a4, a3, "shrink is in place");
            // SAFETY: `a4` is live with at least one byte, written by `fill_tokens`.
            assert_eq!(unsafe { a4.as_ptr().read() }, token(3, 0));
            h.validate().unwrap();
            // Same size: nothing moves.
            let l4 = Layout::from_size_align(1, align).unwrap();
            // SAFETY: live with `l4`.
            assert_eq!(unsafe { h.grow(a4, l4, 1) }, Some(a4));
            // SAFETY: as above.
            assert_eq!(unsafe { h.shrink(a4, l4, 1) }, Some(a4));
            // SAFETY: live blocks with their layouts.
            unsafe {
                h.deallocate(a4, l4);
                h.deallocate(c, Layout::from_size_align(small, 8).unwrap());
            }
            h.validate().unwrap();
            let cen = h.census();
            assert_eq!((cen.used, cen.free), (0, cen.regions), "align {align}");
        }
    }

    /// Grow in place at the very end of a region (D5): never past the sentinel.
    pub(super) fn grow_at_region_end_stays_inside<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let min = TlsfWith::<FL, SL, G>::min_first_region_size();
        let one = TlsfWith::<FL, SL, G>::CONTROL_BLOCK_SIZE
            + TlsfWith::<FL, SL, G>::MAX_BLOCK
            + 2 * G
            + TRAILER;
        let arena = Arena::new((min + 4 * TlsfWith::<FL, SL, G>::MIN_BLOCK).min(one));
        let (mut h, usable) = TlsfWith::<FL, SL, G>::on(&arena);
        let l = Layout::from_size_align(1, 1).unwrap();
        let p = h.allocate(l).unwrap();
        // SAFETY: live with `l`.
        let q = unsafe { h.grow(p, l, usable) }.unwrap();
        assert_eq!(q, p, "the whole region is the successor");
        let lq = Layout::from_size_align(usable, 1).unwrap();
        // SAFETY: live with `usable` bytes; no room beyond the region.
        let r = unsafe { h.grow(q, lq, usable + 1) };
        assert!(r.is_none());
        h.validate().unwrap();
        assert_eq!(h.census().free, 0);
    }

    /// D3: a failed grow leaves the block valid, unchanged and freeable.
    pub(super) fn cat_d3_failed_grow_keeps_block<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(if cfg!(miri) { 8 << 10 } else { 64 << 10 }));
        let (mut h, usable) = TlsfWith::<FL, SL, G>::on(&arena);
        let size = 64.min(TlsfWith::<FL, SL, G>::MAX_ALLOCATION);
        let l = Layout::from_size_align(size, 8).unwrap();
        let mut blocks = Vec::new();
        while let Some(p) = h.allocate(l) {
            fill_tokens(p, size, blocks.len() as u8);
            blocks.push(p);
        }
        let victim = blocks[blocks.len() / 2];
        // SAFETY: live with `l`; the heap is full, so the grow must fail.
        assert!(unsafe { h.grow(victim, l, usable) }.is_none());
        for (i, &p) in blocks.iter().enumerate() {
            check_tokens(p, size, i as u8, "after a failed grow");
        }
        for p in blocks {
            // SAFETY: live with `l`.
            unsafe { h.deallocate(p, l) };
        }
        h.validate().unwrap();
    }

    /// E1 + E3: fill to out-of-memory with mixed sizes, free everything, and the heap is as
    /// claimed; twice over, with the same number of blocks fitting the second time.
    pub(super) fn cat_e1_e3_fill_to_oom_then_drain_is_pristine<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let arena = Arena::new(cap::<FL, SL, G>(if cfg!(miri) { 32 << 10 } else { 1 << 20 }));
        let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
        let pristine = h.census();
        let mut counts = Vec::new();
        for _round in 0..2 {
            let mut rng = Rng::new(11);
            let mut shadow = Shadow {
                regions: std::vec![(arena.addr(), arena.addr() + arena.len())],
                ..Shadow::default()
            };
            let max = TlsfWith::<FL, SL, G>::MAX_ALLOCATION.min(8192);
            let mut failures = 0;
            while failures < 20 {
                let l =
                    Layout::from_size_align(gen_size(&mut rng, max), 1 << rng.below(4)).unwrap();
                match h.allocate(l) {
                    Some(p) => shadow.add(p, l, 1),
                    None => failures += 1,
                }
            }
            assert!(h.allocate(Layout::from_size_align(arena.len(), 1).unwrap()).is_none());
            h.validate().unwrap();
            counts.push(shadow.live.len());
            drain_to_pristine(&mut h, &mut shadow, &mut rng);
            assert_eq!(h.census(), pristine);
        }
        if pristine.regions == 1 {
            // One free block, as claimed: the same state, so the same requests fit.
            assert_eq!(counts[0], counts[1], "the same requests fit after a drain");
        }
    }

    /// Freeing pointers that are not live allocations is ignored without writing anything.
    pub(super) fn invalid_frees_are_ignored_without_write<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let half = cap::<FL, SL, G>(32 << 10);
        let arena = Arena::zeroed(2 * half + 4096);
        let mut h = TlsfWith::<FL, SL, G>::new();
        // Two regions with a gap: the lower one's sentinel lies inside the heap's range.
        h.claim(arena.region(0, half)).unwrap();
        h.claim(arena.region(half + 4096, half)).unwrap();
        let l = Layout::from_size_align(24.min(TlsfWith::<FL, SL, G>::MAX_ALLOCATION), 8).unwrap();
        let a = h.allocate(l).unwrap();
        let b = h.allocate(l).unwrap();
        // SAFETY: live with `l`.
        unsafe { h.deallocate(a, l) };
        let before = arena.snapshot();
        let mut outside = 0u64;
        // SAFETY: the heap has regions; the list holds trailers (the later claim first).
        let (upper, lower) = unsafe {
            let t = h.ctrl.add(TlsfWith::<FL, SL, G>::C_REGIONS).cast::<*mut u8>().read();
            let mut last = t;
            while !word(last, T_NEXT).is_null() {
                last = word(last, T_NEXT);
            }
            (t, last)
        };
        let after_sentinel = |t: *mut u8| NonNull::new(t.wrapping_add(W)).unwrap();
        let cases: [(NonNull<u8>, InvalidFree); 5] = [
            (a, InvalidFree::NotUsed),
            (NonNull::from(&mut outside).cast(), InvalidFree::Outside),
            // SAFETY: inside `b`, one byte in: misaligned for any payload.
            (unsafe { b.add(1) }, InvalidFree::Misaligned),
            (
                after_sentinel(if upper.addr() > lower.addr() { lower } else { upper }),
                InvalidFree::NotUsed,
            ),
            (
                after_sentinel(if upper.addr() > lower.addr() { upper } else { lower }),
                InvalidFree::Outside,
            ),
        ];
        for (i, (p, reason)) in cases.into_iter().enumerate() {
            // SAFETY: deliberately invalid: a double free, a foreign pointer, an interior
            // pointer, sentinels; each must be refused before any write.
            unsafe { h.deallocate(p, l) };
            assert_eq!(h.probe.invalid, Some((p.as_ptr().addr(), reason)), "case {i}");
            assert_eq!(h.probe.invalid_count, i + 1);
            assert!(before == arena.snapshot(), "case {i}: an ignored free wrote");
        }
        h.validate().unwrap();
    }

    /// The fallback: a free block in the request's own class that the rounded-up search skips
    /// is found by the fallback.
    pub(super) fn fallback_finds_block_in_own_class<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        // Find a class wide enough to hold two different block sizes.
        let Some(idx) = (0..FL * SL).find(|&i| {
            let m = TlsfWith::<FL, SL, G>::class_min(i);
            let next = TlsfWith::<FL, SL, G>::class_min(i + 1);
            m >= TlsfWith::<FL, SL, G>::MIN_BLOCK
                && next - m >= 2 * G
                && next - G <= TlsfWith::<FL, SL, G>::MAX_BLOCK
        }) else {
            return; // every class is exact: nothing to fall back to
        };
        let lo = TlsfWith::<FL, SL, G>::class_min(idx);
        let hi = TlsfWith::<FL, SL, G>::class_min(idx + 1) - G;
        let arena = Arena::new(4 * hi + TlsfWith::<FL, SL, G>::min_first_region_size() + 4096);
        let mut h = TlsfWith::<FL, SL, G>::new();
        // A region holding exactly one block of `hi` bytes... and a used guard so it cannot
        // merge: claim exactly enough.
        let base =
            TlsfWith::<FL, SL, G>::min_first_region_size() - TlsfWith::<FL, SL, G>::MIN_BLOCK;
        h.claim(arena.region(0, base + hi)).unwrap();
        h.validate().unwrap();
        assert_eq!(h.census().largest_free, hi);
        // A request of `hi − W` bytes rounds up past `idx`, where nothing is free.
        let l = Layout::from_size_align(hi - W, 8).unwrap();
        assert!(hi > lo);
        let p = h.allocate(l).expect("the block of its own class must be found");
        // The plain path tries the request's own class before the search, so it never needs
        // the search's fallback.
        assert_eq!(h.probe.fallbacks, 0);
        // SAFETY: live with `l`.
        unsafe { h.deallocate(p, l) };
        h.validate().unwrap();
    }

    /// The layout of a request for a block of `units` granules.
    fn units_layout<const G: usize>(units: usize) -> Layout {
        Layout::from_size_align(units * G - W, 8).unwrap()
    }

    /// For [`find_exact`](TlsfWith::find_exact)'s tests: the smallest request of an exact
    /// class (in granules) that has an exact class a smallest block larger, or `None` when the
    /// configuration has no such pair or no class between them (`MIN_UNITS = 1`).
    fn near_class_request<const FL: usize, const SL: usize, const G: usize>() -> Option<usize> {
        let min = TlsfWith::<FL, SL, G>::MIN_UNITS;
        let units = min;
        let far = units + min;
        (min > 1 && far < 2 * SL && far < FL * SL).then_some(units)
    }

    /// Heap `h` (fresh) with, in address order, a block of `a` granules, a used smallest
    /// block, a block of `b` granules and a used smallest block; returns the payloads of the
    /// `a` and `b` blocks, still allocated.
    fn two_blocks_apart<const FL: usize, const SL: usize, const G: usize>(
        h: &mut TlsfWith<FL, SL, G>,
        a: usize,
        b: usize,
    ) -> (NonNull<u8>, NonNull<u8>) {
        let l = units_layout::<G>;
        let min = TlsfWith::<FL, SL, G>::MIN_UNITS;
        let pa = h.allocate(l(a)).unwrap();
        let g1 = h.allocate(l(min)).unwrap();
        let pb = h.allocate(l(b)).unwrap();
        let g2 = h.allocate(l(min)).unwrap();
        let addrs = [pa, g1, pb, g2].map(|p| p.as_ptr().addr());
        assert_eq!(addrs[1] - addrs[0], a * G, "neighbours");
        assert_eq!(addrs[2] - addrs[1], min * G, "neighbours");
        assert_eq!(addrs[3] - addrs[2], b * G, "neighbours");
        (pa, pb)
    }

    /// An exact-class request whose own list is empty passes over a class one granule larger
    /// (its rest could not be a block) for one a smallest block larger, and files the rest.
    pub(super) fn allocate_exact_class_empty_skips_near_class_and_files_rest<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let Some(units) = near_class_request::<FL, SL, G>() else {
            return; // no class between an exact fit and a rest of a smallest block
        };
        if !TlsfWith::<FL, SL, G>::SKIP_NEAR {
            return; // 32-bit targets take the lowest class
        }
        let min = TlsfWith::<FL, SL, G>::MIN_UNITS;
        let arena = Arena::new(cap::<FL, SL, G>(64 << 10));
        let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
        let (pa, pb) = two_blocks_apart(&mut h, units + 1, units + min);
        let (la, lb) = (units_layout::<G>(units + 1), units_layout::<G>(units + min));
        // SAFETY: live with their layouts; each is between used blocks, so neither merges.
        unsafe { h.deallocate(pa, la) };
        // SAFETY: as above.
        unsafe { h.deallocate(pb, lb) };
        h.validate().unwrap();
        let before = h.census();
        let p = h.allocate(units_layout::<G>(units)).unwrap();
        assert_eq!(p, pb, "the block a smallest block larger is taken");
        assert_eq!(hdr(p) & !FLAGS, units * G, "and cut to the request");
        let after = h.census();
        assert_eq!(after.free, before.free, "its rest is a free block; the near one stays free");
        assert_eq!(after.free_bytes, before.free_bytes - units * G);
        h.validate().unwrap();
    }

    /// The classes passed over are still taken when nothing else fits: the request does not
    /// fail while a block that fits is free.
    pub(super) fn allocate_exact_class_only_near_class_free_succeeds<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let Some(units) = near_class_request::<FL, SL, G>() else {
            return; // no class between an exact fit and a rest of a smallest block
        };
        let min = TlsfWith::<FL, SL, G>::MIN_UNITS;
        for near in units + 1..units + min {
            let arena = Arena::new(cap::<FL, SL, G>(64 << 10));
            let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
            let (pa, _) = two_blocks_apart(&mut h, near, units);
            // Fill the rest of the heap: then the block freed below is its only free block.
            let mut fill = Vec::new();
            while h.largest_free_block() > 0 {
                let l = Layout::from_size_align(h.largest_free_block(), 8).unwrap();
                fill.push((h.allocate(l).expect("the largest free block is allocatable"), l));
            }
            let la = units_layout::<G>(near);
            // SAFETY: live with `la`, between used blocks.
            unsafe { h.deallocate(pa, la) };
            h.validate().unwrap();
            let l = units_layout::<G>(units);
            let p = h.allocate(l).expect("the one free block fits: the request must not fail");
            assert_eq!(p, pa);
            assert_eq!(hdr(p) & !FLAGS, near * G, "the rest is too small to split off");
            assert_eq!(h.census().free, 0);
            h.validate().unwrap();
        }
    }

    /// The fallback looks past the first block of the request's own class: a request that
    /// only the second or third block of its class can serve succeeds (that block is moved to
    /// the head of the list and cut), and one that only the fourth could serve fails.
    pub(super) fn allocate_fit_behind_first_of_own_class_succeeds_up_to_third<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        type T<const FL: usize, const SL: usize, const G: usize> = TlsfWith<FL, SL, G>;
        // A class wide enough to hold two different block sizes.
        let Some(idx) = (0..FL * SL - 1).find(|&i| {
            let m = T::<FL, SL, G>::class_min(i);
            let next = T::<FL, SL, G>::class_min(i + 1);
            m >= T::<FL, SL, G>::MIN_BLOCK
                && next - m >= 2 * G
                && next - G <= T::<FL, SL, G>::MAX_BLOCK
        }) else {
            return; // every class is exact: a class's blocks all fit its requests
        };
        let lo = T::<FL, SL, G>::class_min(idx);
        let hi = T::<FL, SL, G>::class_min(idx + 1) - G;
        let guard = Layout::from_size_align(1, 1).unwrap();
        for ahead in 1..=3 {
            let arena = Arena::new(cap::<FL, SL, G>((4 * hi).max(64 << 10)));
            let (mut h, _) = T::<FL, SL, G>::on(&arena);
            if h.census().regions > 1 {
                return; // blocks this large span regions: the layout below needs one
            }
            // In address order: `ahead` blocks of `lo` bytes and one of `hi`, each followed by
            // a used block, then the rest of the heap allocated.
            let mut sizes = std::vec![lo; ahead];
            sizes.push(hi);
            let blocks: Vec<(NonNull<u8>, Layout)> = sizes
                .iter()
                .map(|&s| {
                    let l = Layout::from_size_align(s - W, 8).unwrap();
                    let p = h.allocate(l).unwrap();
                    assert_eq!(hdr(p) & !FLAGS, s);
                    h.allocate(guard).unwrap();
                    (p, l)
                })
                .collect();
            while h.largest_free_block() > 0 {
                h.allocate(Layout::from_size_align(h.largest_free_block(), 8).unwrap()).unwrap();
            }
            // Freed from the last: the list of class `idx` is then in address order, the
            // `hi` block last.
            for &(p, l) in blocks.iter().rev() {
                // SAFETY: live with `l`, between used blocks: no merge.
                unsafe { h.deallocate(p, l) };
            }
            h.validate().unwrap();
            assert_eq!(h.census().free, ahead + 1);
            let l = Layout::from_size_align(hi - W, 8).unwrap();
            let got = h.allocate(l);
            if ahead < T::<FL, SL, G>::LOOK {
                assert_eq!(got, Some(blocks[ahead].0), "{ahead} smaller block(s) ahead");
                assert_eq!(h.census().free, ahead);
            } else {
                assert_eq!(got, None, "the fallback looks at {} blocks", T::<FL, SL, G>::LOOK);
                assert_eq!(h.census().free, ahead + 1);
            }
            h.validate().unwrap();
        }
    }

    /// The sizing helpers keep their promises.
    pub(super) fn sizing_helpers_keep_their_promises<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        type T<const FL: usize, const SL: usize, const G: usize> = TlsfWith<FL, SL, G>;
        assert_eq!(T::<FL, SL, G>::OVERHEAD_PER_ALLOCATION, W);
        for size in (0..300).chain([T::<FL, SL, G>::MAX_ALLOCATION]) {
            if let Some(bs) = T::<FL, SL, G>::block_size(size) {
                assert!(bs >= size + W && bs % G == 0 && bs >= T::<FL, SL, G>::MIN_BLOCK);
                assert!(
                    bs < size + W + G || bs == T::<FL, SL, G>::MIN_BLOCK,
                    "size {size}: block {bs}"
                );
            }
        }
        assert_eq!(T::<FL, SL, G>::block_size(T::<FL, SL, G>::MAX_ALLOCATION + 1), None);
        // Consecutive allocations are `block_size` apart: the overhead is exactly as promised.
        let arena = Arena::new(cap::<FL, SL, G>(256 << 10));
        let (mut h, _) = T::<FL, SL, G>::on(&arena);
        let one_region = h.census().regions == 1;
        for size in
            [0, 1, 7, 8, 9, 24, 100].into_iter().filter(|&s| s <= T::<FL, SL, G>::MAX_ALLOCATION)
        {
            let l = Layout::from_size_align(size, 1).unwrap();
            let a = h.allocate(l).unwrap();
            let b = h.allocate(l).unwrap();
            if one_region {
                assert_eq!(
                    b.as_ptr().addr() - a.as_ptr().addr(),
                    T::<FL, SL, G>::block_size(size).unwrap()
                );
            }
        }
        // A later region of exactly `min_region_size` bytes (aligned base) is accepted; one
        // byte less is refused.
        let min = T::<FL, SL, G>::min_region_size();
        let arena2 = Arena::new(2 * min + 4096);
        assert_eq!(h.claim(arena2.region(0, min - 1)), Err(RegionError::TooSmall { min }));
        assert!(h.claim(arena2.region(1024, min)).is_ok());
        h.validate().unwrap();
        assert!(T::<FL, SL, G>::CONTROL_BLOCK_SIZE < T::<FL, SL, G>::min_first_region_size());
        assert!(core::mem::size_of::<TlsfWith<FL, SL, G>>() == W + core::mem::size_of::<Probe>());
    }

    /// A region longer than the largest block is cut to it: the rest is not used, and one
    /// largest allocation fits.
    pub(super) fn region_beyond_largest_block_is_cut<
        const FL: usize,
        const SL: usize,
        const G: usize,
    >() {
        let max = TlsfWith::<FL, SL, G>::MAX_BLOCK;
        if max > 1 << 20 {
            return; // needs an arena above the largest block; covered by the small configs
        }
        let arena = Arena::new(4 * (max + TlsfWith::<FL, SL, G>::min_first_region_size()));
        let mut h = TlsfWith::<FL, SL, G>::new();
        let usable = h.claim(arena.region(0, arena.len())).unwrap();
        assert_eq!(usable, TlsfWith::<FL, SL, G>::MAX_ALLOCATION);
        let c = h.census();
        assert_eq!((c.regions, c.free, c.largest_free), (1, 1, max));
        let l = Layout::from_size_align(TlsfWith::<FL, SL, G>::MAX_ALLOCATION, 8).unwrap();
        let p = h.allocate(l).unwrap();
        assert!(h.allocate(Layout::new::<u8>()).is_none());
        // SAFETY: live with `l`.
        unsafe { h.deallocate(p, l) };
        h.validate().unwrap();
        // Claimed in pieces instead, all of it is used.
        let mut h = TlsfWith::<FL, SL, G>::new();
        h.claim_pieces(&arena, 0, arena.len()).unwrap();
        let c = h.census();
        assert!(c.regions >= 3, "{c:?}");
        let mut n = 0;
        while h.allocate(l).is_some() {
            n += 1;
        }
        assert!(n >= 3);
        h.validate().unwrap();
    }

    /// Negative controls: each planted corruption is reported with its invariant.
    pub(super) fn planted_corruption_is_found<const FL: usize, const SL: usize, const G: usize>() {
        let size = 24.min(TlsfWith::<FL, SL, G>::MAX_ALLOCATION);
        let l = Layout::from_size_align(size, 8).unwrap();
        /// Plants corruption number `case` into a heap whose blocks `a`, `b`, `c`, `d` (headers)
        /// are neighbours, `b` free; returns the invariant `validate` must report.
        fn plant<const FL: usize, const SL: usize, const G: usize>(
            case: usize,
            h: &mut TlsfWith<FL, SL, G>,
            [a, b, c, _]: [*mut u8; 4],
        ) -> &'static str {
            // SAFETY (every arm): `a`..`d` are headers of blocks of `h`, whose memory the
            // test owns; the writes break invariants on purpose, and the heap is only
            // validated (never used) afterwards.
            match case {
                // SAFETY: see above.
                0 => unsafe {
                    set_word_usize(a, 0, word_usize(a, 0) & !USED);
                    "TL2"
                },
                // SAFETY: see above.
                1 => unsafe {
                    set_word_usize(a, 0, word_usize(a, 0) & FLAGS);
                    "TL1"
                },
                // SAFETY: see above.
                2 => unsafe {
                    set_word_usize(c, 0, word_usize(c, 0) & !PREV_FREE);
                    "TL3"
                },
                // SAFETY: see above.
                3 => unsafe {
                    set_word_usize(c, 0, (word_usize(c, 0) & !USED) | FREE);
                    "TL4"
                },
                // SAFETY: see above.
                4 => unsafe {
                    let size = word_usize(b, 0) & !FLAGS;
                    set_word(b, size - W, b.wrapping_add(G));
                    "TL5"
                },
                // SAFETY: see above.
                5 => unsafe {
                    set_word(b, PREV, b);
                    "TL6"
                },
                // SAFETY: see above (the control block is heap memory too).
                6 => unsafe {
                    let f = TlsfWith::<FL, SL, G>::summary(h.ctrl);
                    f.write(
                        f.read() ^ TlsfWith::<FL, SL, G>::bit(TlsfWith::<FL, SL, G>::WORDS - 1),
                    );
                    "TL7"
                },
                // SAFETY: see above: `b` leaves its list, its bitmap bit stays.
                _ => unsafe {
                    let size = word_usize(b, 0) & !FLAGS;
                    let idx = floor_index(
                        size >> TlsfWith::<FL, SL, G>::G_LOG2,
                        TlsfWith::<FL, SL, G>::SL_LOG2,
                    );
                    TlsfWith::<FL, SL, G>::head(h.ctrl, idx).write(word(b, NEXT));
                    "TL6"
                },
            }
        }
        if 4 * TlsfWith::<FL, SL, G>::block_size(size).unwrap() > TlsfWith::<FL, SL, G>::MAX_BLOCK {
            return; // four neighbouring blocks do not fit in one region of this configuration
        }
        for case in 0..8 {
            let arena = Arena::new(cap::<FL, SL, G>(64 << 10));
            let (mut h, _) = TlsfWith::<FL, SL, G>::on(&arena);
            let ps: Vec<NonNull<u8>> = (0..4).map(|_| h.allocate(l).unwrap()).collect();
            // SAFETY: live with `l`: `b` becomes a free block between used `a` and `c`.
            unsafe { h.deallocate(ps[1], l) };
            h.validate().unwrap();
            let hdrs = [0, 1, 2, 3].map(|i| ps[i].as_ptr().wrapping_sub(W));
            let want = plant(case, &mut h, hdrs);
            let err = h.validate().expect_err(want);
            let ok = err.what.starts_with(want) || (want == "TL6" && err.what.starts_with("TL7"));
            assert!(ok, "planted {want}, validate said {err}");
        }
    }
}

/// Instantiates every generic test for one configuration.
macro_rules! suite {
    ($name:ident, $fl:literal, $sl:literal, $g:literal) => {
        mod $name {
            use super::generic;
            suite!(@tests $fl, $sl, $g;
                random_ops_match_shadow_model,
                random_ops_validate_after_every_op,
                cat_a1_region_lengths_around_minimum,
                cat_a2_misaligned_bases_and_odd_lengths,
                cat_a3_regions_at_top_of_address_space_are_refused,
                cat_a4_overlapping_region_is_rejected_without_write,
                cat_a5_allocate_before_claim_returns_none,
                cat_a6_adjacent_regions_merge,
                cat_a6_static_regions_never_merge,
                cat_b1_zero_size_allocations_are_unique,
                cat_b2_b3_layout_grid_never_panics,
                cat_b4_size_class_edges_and_powers_of_two,
                cat_c4_dealloc_with_wrong_layout_uses_header,
                cat_d1_d2_d5_realloc_in_place_and_moving,
                grow_at_region_end_stays_inside,
                cat_d3_failed_grow_keeps_block,
                cat_e1_e3_fill_to_oom_then_drain_is_pristine,
                invalid_frees_are_ignored_without_write,
                fallback_finds_block_in_own_class,
                allocate_exact_class_empty_skips_near_class_and_files_rest,
                allocate_exact_class_only_near_class_free_succeeds,
                allocate_fit_behind_first_of_own_class_succeeds_up_to_third,
                sizing_helpers_keep_their_promises,
                region_beyond_largest_block_is_cut,
                planted_corruption_is_found,
            );
        }
    };
    (@tests $fl:literal, $sl:literal, $g:literal; $($t:ident,)*) => {
        $(
            #[test]
            fn $t() {
                generic::$t::<$fl, $sl, $g>();
            }
        )*
    };
}

suite!(cfg_64bit_default_31_8_8, 31, 8, 8);
#[cfg(not(miri))]
suite!(cfg_64bit_previous_30_8_16, 30, 8, 16);
#[cfg(not(miri))]
suite!(cfg_64bit_wide_28_32_16, 28, 32, 16);
suite!(cfg_32bit_default_20_8_8, 20, 8, 8);
suite!(cfg_tiny_4_2_8, 4, 2, 8);
// Miri runs the three configurations above (the defaults and a tiny one); the rest only add
// parameter coverage at native speed.
#[cfg(not(miri))]
suite!(cfg_tiny_3_1_16, 3, 1, 16);
#[cfg(not(miri))]
suite!(cfg_small_8_4_8, 8, 4, 8);
#[cfg(not(miri))]
suite!(cfg_12_16_8, 12, 16, 8);
#[cfg(not(miri))]
suite!(cfg_wide_sl_20_64_8, 20, 64, 8);
#[cfg(not(miri))]
suite!(cfg_granule_32_10_4_32, 10, 4, 32);
#[cfg(not(miri))]
suite!(cfg_max_fl_58_1_8, 58, 1, 8);

#[test]
fn default_parameters_are_the_documented_ones() {
    let _: TlsfWith<DEFAULT_FL, DEFAULT_SL, DEFAULT_G> = Tlsf::new();
    #[cfg(target_pointer_width = "64")]
    {
        assert_eq!((DEFAULT_FL, DEFAULT_SL, DEFAULT_G), (31, 8, 8));
        // 248 classes, 4 bitmap words.
        assert_eq!(Tlsf::CONTROL_BLOCK_SIZE, (5 + 4 + 31 * 8) * 8);
        assert_eq!(Tlsf::CONTROL_BLOCK_SIZE, 2056);
        assert_eq!(Tlsf::MAX_ALLOCATION, (64 << 30) - 8 - 8);
        assert_eq!(Tlsf::block_size(1), Some(24));
    }
    assert_eq!(core::mem::size_of::<Tlsf>(), W + core::mem::size_of::<Probe>());
    // The 32-bit default's figures, computed with 4-byte words: 160 classes, 5 bitmap words.
    assert_eq!((5 + 5 + 20 * 8) * 4, 680);
    assert_eq!(
        TlsfWith::<12, 4, 8>::CONTROL_BLOCK_SIZE,
        (5 + 48usize.div_ceil(usize::BITS as usize) + 48) * W
    );
}

// ---- the big runs ---------------------------------------------------------------------------

/// R3: at least 1,000,000 random operations (release) over a 64 MiB arena claimed in four
/// pieces, validated every 1000 operations, drained to pristine at the end.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri; the matrix runs reduced shadow tests")]
fn shadow_model_million_ops_64mib() {
    let ops = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };
    let done =
        random_ops::<DEFAULT_FL, DEFAULT_SL, DEFAULT_G, false>(42, ops, 64 << 20, 1000, 3000);
    std::println!("shadow model: {done} operations checked");
    assert!(cfg!(debug_assertions) || done >= 1_000_000);
}

/// The hardened variant (TL9: encoded, checked links) under the same shadow model, on both
/// default parameter sets: every check passes on a sound heap and nothing is reported.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn shadow_model_hardened_links_reports_nothing() {
    let _ = crate::fault::tests::take();
    let ops = if cfg!(debug_assertions) { 30_000 } else { 300_000 };
    let mut done =
        random_ops::<DEFAULT_FL, DEFAULT_SL, DEFAULT_G, true>(44, ops, 16 << 20, 500, 2000);
    done += random_ops::<20, 8, 8, true>(45, ops, 16 << 20, 500, 2000);
    done += random_ops::<12, 4, 8, true>(46, ops / 10, 256 << 10, 1, 40);
    assert!(done >= 2 * ops, "{done}");
    assert_eq!(crate::fault::tests::take(), [], "a sound heap raised a fault");
}

/// The same on the 32-bit default parameters (the mapping and bitmaps of MCUs).
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn shadow_model_32bit_parameters_64mib() {
    let ops = if cfg!(debug_assertions) { 50_000 } else { 500_000 };
    random_ops::<20, 8, 8, false>(43, ops, 64 << 20, 1000, 2000);
}

/// B5: allocations straddling the thresholds the metadata encodes: 2^8, 2^16, 2^24 in a
/// 64 MiB arena, each with neighbours, freed in both orders.
#[test]
#[cfg_attr(miri, ignore = "needs a 64 MiB arena")]
fn cat_b5_sizes_straddling_2_pow_8_16_24() {
    for_thresholds::<DEFAULT_FL, DEFAULT_SL, DEFAULT_G>(64 << 20, &[8, 16, 24]);
    for_thresholds::<20, 8, 8>(64 << 20, &[8, 16, 24]);
}

/// B5: 2^31 ± 1 in a lazily committed arena of 2^31 + 4 MiB (only the touched pages are
/// committed).
#[test]
#[cfg_attr(miri, ignore = "needs a 2 GiB arena")]
#[cfg(target_pointer_width = "64")]
fn cat_b5_sizes_straddling_2_pow_31() {
    for_thresholds::<DEFAULT_FL, DEFAULT_SL, DEFAULT_G>((1 << 31) + (4 << 20), &[31]);
}

fn for_thresholds<const FL: usize, const SL: usize, const G: usize>(arena_len: usize, ks: &[u32]) {
    let arena = Arena::new(arena_len);
    let (mut h, usable) = TlsfWith::<FL, SL, G>::on(&arena);
    let mut shadow = Shadow {
        regions: std::vec![(arena.addr(), arena.addr() + arena.len())],
        ..Shadow::default()
    };
    for &k in ks {
        for d in [-(W as isize) - 1, -1, 0, 1, W as isize + 1] {
            let size = ((1isize << k) + d) as usize;
            if size > usable / 2 && k < 31 {
                continue;
            }
            let l = Layout::from_size_align(size, 8).unwrap();
            let guard = Layout::from_size_align(8, 8).unwrap();
            let g1 = h.allocate(guard).unwrap();
            let p = h.allocate(l).unwrap_or_else(|| panic!("2^{k}{d:+} failed"));
            let g2 = h.allocate(guard).unwrap();
            shadow.add(g1, guard, 1);
            shadow.add(p, l, 2);
            shadow.add(g2, guard, 3);
            h.validate().unwrap();
            // Shrink across the threshold in place, grow back in place into the freed tail.
            shadow.remove(p.as_ptr().addr());
            let down = (1usize << k) - 64;
            // SAFETY: `p` is live with `l`.
            let q = unsafe { h.shrink(p, l, down) }.unwrap();
            assert_eq!(q, p);
            fill_tokens(p, down, 2);
            h.validate().unwrap();
            // SAFETY: `p` is live with `down` bytes.
            let r = unsafe { h.grow(p, Layout::from_size_align(down, 8).unwrap(), size) }.unwrap();
            assert_eq!(r, p, "the tail freed by the shrink is the successor");
            check_tokens(r, down, 2, "grow back");
            shadow.add(r, l, 4);
            h.validate().unwrap();
            for a in [g1, r, g2] {
                let lv = shadow.remove(a.as_ptr().addr());
                // SAFETY: live with its layout.
                unsafe { h.deallocate(lv.ptr, lv.layout) };
                h.validate().unwrap();
            }
            let c = h.census();
            assert_eq!((c.used, c.free), (0, c.regions), "2^{k}{d:+}");
        }
    }
}

/// The heap as a `GlobalAlloc` behind a lock, including realloc through grow/shrink.
#[test]
fn locked_global_alloc_round_trip() {
    use core::alloc::GlobalAlloc;
    let arena = Arena::new(64 << 10);
    let heap: crate::Locked<crate::Spin, Tlsf> = crate::Locked::new(Tlsf::new());
    heap.claim(arena.region(0, arena.len())).unwrap();
    let l = Layout::from_size_align(100, 8).unwrap();
    // SAFETY: GlobalAlloc contract: non-zero sizes, matching layouts, each block freed once.
    unsafe {
        let p = heap.alloc(l);
        assert!(!p.is_null());
        p.write_bytes(7, 100);
        let q = heap.realloc(p, l, 5000);
        assert!(!q.is_null());
        assert_eq!(q.add(99).read(), 7);
        let r = heap.realloc(q, Layout::from_size_align(5000, 8).unwrap(), 10);
        assert_eq!(r, q, "shrink is in place");
        heap.dealloc(r, Layout::from_size_align(10, 8).unwrap());
    }
    heap.lock(|h| h.validate()).unwrap().unwrap();
}

/// `HeapStats`: the free bytes are the listed blocks less their headers, and the largest free
/// block is exactly the largest request `allocate` serves: it succeeds, one byte more fails.
#[test]
fn heap_stats_largest_free_block_is_exactly_allocatable() {
    let arena = Arena::new(64 << 10);
    let mut h = Tlsf::new();
    assert_eq!((h.free_bytes(), h.largest_free_block()), (0, 0));
    let usable = h.claim(arena.region(0, arena.len())).unwrap();
    assert_eq!((h.free_bytes(), h.largest_free_block()), (usable, usable));
    let mut rng = Rng::new(7);
    let mut live = Vec::new();
    for round in 0..300 {
        if rng.below(3) != 0 || live.is_empty() {
            let layout = Layout::from_size_align(1 + rng.below(3000), 8).unwrap();
            if let Some(p) = h.allocate(layout) {
                live.push((p, layout));
            }
        } else {
            let (p, layout) = live.swap_remove(rng.below(live.len()));
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { h.deallocate(p, layout) };
        }
        let largest = h.largest_free_block();
        assert!(largest <= h.free_bytes(), "round {round}");
        if largest > 0 {
            let too_big = Layout::from_size_align(largest + 1, 8).unwrap();
            assert!(h.allocate(too_big).is_none(), "round {round}: {} B served", largest + 1);
            let fits = Layout::from_size_align(largest, 8).unwrap();
            let p = h.allocate(fits).unwrap_or_else(|| panic!("round {round}: {largest} B"));
            // SAFETY: just allocated with `fits`.
            unsafe { h.deallocate(p, fits) };
        }
        h.validate().unwrap();
    }
    for (p, layout) in live {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { h.deallocate(p, layout) };
    }
    assert_eq!((h.free_bytes(), h.largest_free_block()), (usable, usable));
}

// ---- the three-word smallest block (PREV_MIN) -------------------------------------------------

/// A configuration whose smallest block is three words (the 64-bit default: `G = 8`).
type Tiny<const HARDENED: bool = false> = TlsfWith<31, 8, 8, HARDENED>;

/// Block sizes of three, six and nine words.
const W3: usize = 3 * W;
const W6: usize = 6 * W;
const W9: usize = 9 * W;

/// The header value of the block whose payload is `p`.
fn hdr(p: NonNull<u8>) -> usize {
    // SAFETY: `p` is a payload of a test heap: the word before it is its block's header.
    unsafe { word_usize(p.as_ptr().wrapping_sub(W), 0) }
}

/// Overwrites the header of the block whose payload is `p`.
fn set_hdr(p: NonNull<u8>, v: usize) {
    // SAFETY: as for `hdr`; the write is what the test is about.
    unsafe { set_word_usize(p.as_ptr().wrapping_sub(W), 0, v) }
}

/// A heap of the [`Tiny`] configuration and `n` neighbouring smallest blocks, allocated in
/// address order from the start of a fresh region.
fn smallest_blocks<const HARDENED: bool>(
    arena: &Arena,
    n: usize,
) -> (Tiny<HARDENED>, Vec<NonNull<u8>>) {
    const { assert!(Tiny::<HARDENED>::TINY && Tiny::<HARDENED>::MIN_BLOCK == 3 * W) };
    let (mut h, _) = Tiny::<HARDENED>::on(arena);
    let l = Layout::from_size_align(1, 1).unwrap();
    let ps: Vec<NonNull<u8>> = (0..n).map(|_| h.allocate(l).unwrap()).collect();
    for w in ps.windows(2) {
        assert_eq!(w[1].as_ptr().addr() - w[0].as_ptr().addr(), 3 * W, "neighbours");
    }
    (h, ps)
}

#[test]
fn free_smallest_block_between_used_ones_sets_prev_min_and_is_reused() {
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    let l = Layout::from_size_align(1, 1).unwrap();
    // SAFETY: live with `l`.
    unsafe { h.deallocate(ps[1], l) };
    h.validate().unwrap();
    assert_eq!(hdr(ps[1]), W3 | FREE, "a free smallest block");
    assert_eq!(hdr(ps[2]), W3 | USED | PREV_FREE | PREV_MIN, "the next header says so");
    // The exact class hands it back, and the flags go.
    assert_eq!(h.allocate(l), Some(ps[1]));
    assert_eq!(hdr(ps[2]), W3 | USED);
    h.validate().unwrap();
}

#[test]
fn free_block_after_smallest_free_block_merges_backwards() {
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    let l = Layout::from_size_align(1, 1).unwrap();
    // SAFETY: live with `l`, each freed once.
    unsafe {
        h.deallocate(ps[1], l);
        h.deallocate(ps[2], l);
    }
    h.validate().unwrap();
    assert_eq!(hdr(ps[1]), W6 | FREE, "found through PREV_MIN, merged");
    assert_eq!(hdr(ps[3]), W3 | USED | PREV_FREE, "a larger block before: a footer, no PREV_MIN");
    let footer = ps[3].as_ptr().wrapping_sub(2 * W);
    // SAFETY: the word before `ps[3]`'s header: the merged free block's footer.
    assert_eq!(unsafe { word(footer, 0) }, ps[1].as_ptr().wrapping_sub(W));
    let l2 = Layout::from_size_align(5 * W, 8).unwrap();
    assert_eq!(h.allocate(l2), Some(ps[1]), "the merged block is one block again");
    h.validate().unwrap();
}

#[test]
fn free_block_before_smallest_free_block_merges_forward_and_clears_prev_min() {
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    let l = Layout::from_size_align(1, 1).unwrap();
    // SAFETY: live with `l`, each freed once.
    unsafe {
        h.deallocate(ps[2], l);
        h.deallocate(ps[1], l);
    }
    h.validate().unwrap();
    assert_eq!(hdr(ps[1]), W6 | FREE);
    assert_eq!(hdr(ps[3]), W3 | USED | PREV_FREE, "PREV_MIN cleared by the merge");
    // Both sides at once: a smallest free block before and after.
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 5);
    // SAFETY: live with `l`, each freed once.
    unsafe {
        h.deallocate(ps[1], l);
        h.deallocate(ps[3], l);
        h.deallocate(ps[2], l);
    }
    h.validate().unwrap();
    assert_eq!(hdr(ps[1]), W9 | FREE);
    assert_eq!(hdr(ps[4]), W3 | USED | PREV_FREE);
}

#[test]
fn grow_into_and_shrink_to_smallest_free_block_keep_prev_min_right() {
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    let l = Layout::from_size_align(1, 1).unwrap();
    // SAFETY: live with `l`.
    unsafe { h.deallocate(ps[2], l) };
    // `ps[1]` absorbs the smallest free block after it: `ps[3]` loses both flags.
    // SAFETY: `ps[1]` is live with `l`.
    assert_eq!(unsafe { h.grow(ps[1], l, 5 * W) }, Some(ps[1]));
    assert_eq!(hdr(ps[1]), W6 | USED);
    assert_eq!(hdr(ps[3]), W3 | USED);
    h.validate().unwrap();
    // Shrinking it back leaves a smallest free tail, marked in `ps[3]`'s header.
    let big = Layout::from_size_align(5 * W, 1).unwrap();
    // SAFETY: `ps[1]` is live with `big`.
    assert_eq!(unsafe { h.shrink(ps[1], big, 1) }, Some(ps[1]));
    assert_eq!(hdr(ps[3]), W3 | USED | PREV_FREE | PREV_MIN);
    h.validate().unwrap();
    // A split that leaves a smallest remainder: a 6-word hole, 3 words taken.
    // SAFETY: live with `l`.
    unsafe { h.deallocate(ps[1], l) };
    assert_eq!(hdr(ps[1]), W6 | FREE);
    assert_eq!(h.allocate(l), Some(ps[1]));
    assert_eq!(hdr(ps[3]), W3 | USED | PREV_FREE | PREV_MIN);
    h.validate().unwrap();
}

/// A shrink whose tail joins a smallest free block, then a moving grow whose old block joins
/// the free block before it: the flags around the merged blocks stay right (the 64-bit plain
/// heap files the tail and releases the old block without the free path's checks).
fn shrink_into_smallest_free_block_then_move_keeps_flags<const HARDENED: bool>() {
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<HARDENED>(&arena, 6);
    let l = Layout::from_size_align(1, 1).unwrap();
    // `ps[1]` grows over `ps[2]`; `ps[3]` becomes a smallest free block after it.
    // SAFETY: live with `l`, each freed once; `ps[1]` is live with `l`.
    unsafe {
        h.deallocate(ps[2], l);
        assert_eq!(h.grow(ps[1], l, 5 * W), Some(ps[1]));
        h.deallocate(ps[3], l);
    }
    assert_eq!(hdr(ps[4]), W3 | USED | PREV_FREE | PREV_MIN);
    h.validate().unwrap();
    // The 3-word tail of `ps[1]` and the free `ps[3]` become one 6-word block with a footer.
    let big = Layout::from_size_align(5 * W, 1).unwrap();
    // SAFETY: `ps[1]` is live with `big`.
    assert_eq!(unsafe { h.shrink(ps[1], big, 1) }, Some(ps[1]));
    assert_eq!(hdr(ps[1]), W3 | USED);
    assert_eq!(hdr(ps[2]), W6 | FREE);
    assert_eq!(hdr(ps[4]), W3 | USED | PREV_FREE, "PREV_MIN cleared by the merge");
    // SAFETY: the word before `ps[4]`'s header: the merged block's footer.
    let footer = unsafe { word(ps[4].as_ptr().wrapping_sub(2 * W), 0) };
    assert_eq!(footer, ps[2].as_ptr().wrapping_sub(W));
    h.validate().unwrap();
    // `ps[4]` cannot grow in place (`ps[5]` is used): it moves, and its old block joins the
    // free one before it; `ps[5]` then follows a 9-word free block.
    // SAFETY: `ps[4]` is live with `l`.
    let moved = unsafe { h.grow(ps[4], l, 8 * W) }.unwrap();
    assert_ne!(moved, ps[4]);
    assert_eq!(hdr(ps[2]), W9 | FREE);
    assert_eq!(hdr(ps[5]), W3 | USED | PREV_FREE);
    h.validate().unwrap();
    // The moved block was cut from the front of the region's large free block: shrunk, its
    // 6-word tail joins that block.
    let l8 = Layout::from_size_align(8 * W, 1).unwrap();
    let free = h.free_bytes();
    // SAFETY: `moved` is live with `l8`.
    assert_eq!(unsafe { h.shrink(moved, l8, 1) }, Some(moved));
    assert_eq!(hdr(moved), W3 | USED);
    assert_eq!(h.free_bytes(), free + W6);
    h.validate().unwrap();
}

#[test]
fn shrink_into_smallest_free_block_then_move_keeps_flags_plain() {
    shrink_into_smallest_free_block_then_move_keeps_flags::<false>();
}

#[test]
fn shrink_into_smallest_free_block_then_move_keeps_flags_hardened() {
    shrink_into_smallest_free_block_then_move_keeps_flags::<true>();
}

#[test]
fn allocate_align_2g_from_either_half_keeps_heap_valid() {
    let arena = Arena::new(64 << 10);
    let (mut h, _) = Tiny::<false>::on(&arena);
    let mut live = Vec::new();
    for i in 0..200 {
        let size = 1 + (i * 7) % 64;
        let layout = Layout::from_size_align(size, if i % 3 == 0 { 16 } else { 8 }).unwrap();
        let p = h.allocate(layout).unwrap();
        assert_eq!(p.as_ptr().addr() % layout.align(), 0);
        live.push((p, layout));
        if i % 4 == 1 {
            let (p, layout) = live.swap_remove(i % live.len());
            // SAFETY: live with `layout`, freed once.
            unsafe { h.deallocate(p, layout) };
        }
        h.validate().unwrap();
    }
    for (p, layout) in live {
        // SAFETY: live with `layout`, freed once.
        unsafe { h.deallocate(p, layout) };
    }
    h.validate().unwrap();
    assert_eq!(h.census().free, 1, "drained to one block");
}

#[test]
fn validate_reports_wrong_prev_min() {
    let l = Layout::from_size_align(1, 1).unwrap();
    // Missing: the header after a smallest free block without PREV_MIN.
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    // SAFETY: live with `l`.
    unsafe { h.deallocate(ps[1], l) };
    set_hdr(ps[2], hdr(ps[2]) & !PREV_MIN);
    let err = h.validate().unwrap_err();
    assert!(err.what.starts_with("TL3: PREV_MIN"), "{err}");
    // Spurious: PREV_MIN after a larger free block, and after a used one.
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<false>(&arena, 4);
    // SAFETY: live with `l`, each freed once.
    unsafe {
        h.deallocate(ps[1], l);
        h.deallocate(ps[2], l);
    }
    h.validate().unwrap();
    set_hdr(ps[3], hdr(ps[3]) | PREV_MIN);
    let err = h.validate().unwrap_err();
    assert!(err.what.starts_with("TL3: PREV_MIN"), "{err}");
    let arena = Arena::new(64 << 10);
    let (h, ps) = smallest_blocks::<false>(&arena, 4);
    set_hdr(ps[2], hdr(ps[2]) | PREV_MIN);
    let err = h.validate().unwrap_err();
    assert!(err.what.starts_with("TL3: PREV_MIN"), "{err}");
    // The sentinel after a smallest free block carries PREV_MIN too; without it, it is bad.
    let arena = Arena::new(64 << 10);
    let (mut h, _) = Tiny::<false>::on(&arena);
    let rest = h.largest_free_block() - 3 * W;
    let big = h.allocate(Layout::from_size_align(rest, 8).unwrap()).unwrap();
    let small = h.allocate(l).unwrap();
    assert!(h.allocate(l).is_none(), "full");
    // SAFETY: live with `l`: the region's last block becomes a smallest free block.
    unsafe { h.deallocate(small, l) };
    h.validate().unwrap();
    let s = small.as_ptr().wrapping_add(2 * W);
    // SAFETY: the sentinel header right after the last block.
    unsafe {
        assert_eq!(word_usize(s, 0) & FLAGS, PREV_FREE | PREV_MIN);
        set_word_usize(s, 0, word_usize(s, 0) & !PREV_MIN);
    }
    assert!(h.validate().unwrap_err().what.starts_with("TL2: bad sentinel"));
    let _ = big;
}

#[test]
fn hardened_damaged_links_of_smallest_free_block_are_reported() {
    let l = Layout::from_size_align(1, 1).unwrap();
    for (case, value) in [(NEXT, 0x4141_4141usize), (PREV, 0), (NEXT, usize::MAX), (PREV, 8)] {
        let hdr_of = |p: NonNull<u8>| p.as_ptr().addr() - W;
        // Freeing the block after it (merge backwards through PREV_MIN) is refused.
        let arena = Arena::new(64 << 10);
        let (mut h, ps) = smallest_blocks::<true>(&arena, 4);
        // SAFETY: live with `l`.
        unsafe { h.deallocate(ps[1], l) };
        let _ = crate::fault::tests::take();
        // SAFETY: a link word of the free block `ps[1]`; the write is the bug under test.
        unsafe { set_word_usize(ps[1].as_ptr().wrapping_sub(W), case, value) };
        assert!(h.validate().is_err(), "{case} {value:#x}");
        // SAFETY: `ps[2]` is live with `l`; the free must be refused.
        unsafe { h.deallocate(ps[2], l) };
        let seen: Vec<_> = crate::fault::tests::take().iter().map(|f| (f.kind, f.addr)).collect();
        assert_eq!(seen, [(crate::fault::FaultKind::CorruptLink, hdr_of(ps[2]))]);
        assert_eq!(hdr(ps[2]) & USED, USED, "nothing written: still used");
        // Freeing the block before it (merge forwards) is refused too.
        // SAFETY: `ps[0]` is live with `l`; the free must be refused.
        unsafe { h.deallocate(ps[0], l) };
        let seen: Vec<_> = crate::fault::tests::take().iter().map(|f| (f.kind, f.addr)).collect();
        assert_eq!(seen, [(crate::fault::FaultKind::CorruptLink, hdr_of(ps[0]))]);
    }
    // A damaged PREV_MIN: the block after a smallest free block looks for a footer, which is
    // the free block's `PREV` link, and the hardened free refuses it.
    let arena = Arena::new(64 << 10);
    let (mut h, ps) = smallest_blocks::<true>(&arena, 4);
    // SAFETY: live with `l`.
    unsafe { h.deallocate(ps[1], l) };
    let _ = crate::fault::tests::take();
    set_hdr(ps[2], hdr(ps[2]) & !PREV_MIN);
    // SAFETY: `ps[2]` is live with `l`; the free must be refused.
    unsafe { h.deallocate(ps[2], l) };
    assert_eq!(crate::fault::tests::take().len(), 1);
    assert_eq!(hdr(ps[2]) & USED, USED);
}

/// A hardened heap with, in address order, free blocks of 4,096 and 4,600 bytes (one class:
/// the larger last in its list), each followed by a used block, and nothing else free; no
/// fault pending. `None` where the failure path looks at the first block only (32-bit).
fn class_of_two_hardened(arena: &Arena) -> Option<(Tiny<true>, NonNull<u8>, NonNull<u8>)> {
    if Tiny::<true>::LOOK < 2 {
        return None;
    }
    let (mut h, _) = Tiny::<true>::on(arena);
    let guard = Layout::from_size_align(1, 1).unwrap();
    let [lo, hi] = [4096, 4600].map(|s| {
        let p = h.allocate(Layout::from_size_align(s - W, 8).unwrap()).unwrap();
        h.allocate(guard).unwrap();
        p
    });
    assert_eq!(Tiny::<true>::class_of_bytes(4096), Tiny::<true>::class_of_bytes(4600));
    while h.largest_free_block() > 0 {
        h.allocate(Layout::from_size_align(h.largest_free_block(), 8).unwrap()).unwrap();
    }
    for (p, s) in [(hi, 4600), (lo, 4096)] {
        // SAFETY: live with this layout, between used blocks: no merge.
        unsafe { h.deallocate(p, Layout::from_size_align(s - W, 8).unwrap()) };
    }
    h.validate().unwrap();
    let _ = crate::fault::tests::take();
    Some((h, lo, hi))
}

#[test]
fn allocate_fallback_hardened_sound_links_takes_second_block() {
    let arena = Arena::new(64 << 10);
    let Some((mut h, _, hi)) = class_of_two_hardened(&arena) else {
        return; // 32-bit targets look at the first block only
    };
    let p = h.allocate(Layout::from_size_align(4600 - W, 8).unwrap());
    assert_eq!(p, Some(hi));
    assert!(crate::fault::tests::take().is_empty());
    h.validate().unwrap();
}

#[test]
fn allocate_fallback_hardened_damaged_link_is_reported_and_fails() {
    let arena = Arena::new(64 << 10);
    let Some((mut h, lo, hi)) = class_of_two_hardened(&arena) else {
        return; // 32-bit targets look at the first block only
    };
    // SAFETY: the `NEXT` link of free block `lo`; the write is the bug under test.
    unsafe { set_word_usize(lo.as_ptr().wrapping_sub(W), NEXT, 0x4141_4140) };
    let p = h.allocate(Layout::from_size_align(4600 - W, 8).unwrap());
    assert_eq!(p, None, "a damaged link is not followed");
    let seen: Vec<_> = crate::fault::tests::take().iter().map(|f| (f.kind, f.addr)).collect();
    assert_eq!(seen, [(crate::fault::FaultKind::CorruptLink, lo.as_ptr().addr() - W)]);
    assert_eq!(hdr(hi), 4600 | FREE, "nothing written: still free");
}

/// Over-aligned allocations at every alignment from `2·G` to 64 KiB, after a varying number
/// of small blocks (so that the block they are cut from ends at many offsets): each payload is aligned, its
/// block keeps less than `min(align, KEEP_SLACK)` bytes beyond the request's own block size
/// (a larger slack is filed), and every byte of the region is in a used or a free block.
fn over_aligned_slack_is_bounded_and_nothing_is_lost<
    const FL: usize,
    const SL: usize,
    const G: usize,
    const HARDENED: bool,
>() {
    type H<const FL: usize, const SL: usize, const G: usize, const HARDENED: bool> =
        TlsfWith<FL, SL, G, HARDENED>;
    let arena = Arena::new(1 << 20);
    let small = Layout::from_size_align(G, 8).unwrap();
    // Under Miri: fewer offsets and every other alignment.
    let (pads, step) = if cfg!(miri) { (2, 3) } else { (6, 1) };
    for pad in 0..pads {
        for shift in ((G.trailing_zeros() + 1)..=16).step_by(step) {
            let align = 1usize << shift;
            for size in [1, 3 * G, 100, 1000, 5000] {
                let (mut h, _) = H::<FL, SL, G, HARDENED>::on(&arena);
                let span = h.census().span_bytes;
                let pads: Vec<_> = (0..pad).map(|_| h.allocate(small).unwrap()).collect();
                let l = Layout::from_size_align(size, align).unwrap();
                let p = h.allocate(l).unwrap();
                assert_eq!(p.as_ptr().addr() % align, 0, "align {align} size {size}");
                h.validate().unwrap();
                let need = H::<FL, SL, G, HARDENED>::block_size(size).unwrap();
                let kept = (hdr(p) & !FLAGS) - need;
                let bound = align.min(H::<FL, SL, G, HARDENED>::KEEP_SLACK);
                assert!(kept < bound, "align {align} size {size} pad {pad}: {kept} bytes kept");
                let c = h.census();
                let used_bytes = span - c.free_bytes;
                let pad_bytes: usize = pads.iter().map(|&q| hdr(q) & !FLAGS).sum();
                assert_eq!(used_bytes, (hdr(p) & !FLAGS) + pad_bytes, "used blocks, no more");
                // SAFETY: live with `l`, freed once; the pads with `small`.
                unsafe {
                    h.deallocate(p, l);
                    for q in pads {
                        h.deallocate(q, small);
                    }
                }
                h.validate().unwrap();
                assert_eq!(h.census().free, 1, "align {align} size {size} pad {pad}: merged");
            }
        }
    }
}

#[test]
fn allocate_over_aligned_keeps_small_slack_and_files_large_slack() {
    over_aligned_slack_is_bounded_and_nothing_is_lost::<31, 8, 8, false>();
    over_aligned_slack_is_bounded_and_nothing_is_lost::<30, 8, 16, false>();
    over_aligned_slack_is_bounded_and_nothing_is_lost::<20, 8, 8, true>();
}

//! Several memories in one allocator, with a choice per allocation: [`Zoned`].
//!
//! A chip often has memories that differ: fast internal SRAM, tightly coupled or core-coupled
//! RAM that DMA cannot reach, a DMA-capable bank, slow external PSRAM. One global allocator
//! should use all of them, and some allocations must land in a particular one. `Zoned<H, N>`
//! holds `N` heaps, one per *zone*:
//!
//! - plain allocations (`GlobalAlloc`, [`Heap::allocate`]) try the zones of the **default
//!   order** one after another (fallback); zones left out of it are *reserved* for explicit
//!   requests;
//! - [`allocate_in`](ZonedHeap::allocate_in) **restricts** an allocation to one zone, and
//!   [`allocate_preferring`](ZonedHeap::allocate_preferring) **prefers** one and falls back to the
//!   default order;
//! - with the `allocator-api2` feature, `HEAP.zone(DMA)` is an allocator handle, so
//!   `allocator_api2::vec::Vec::new_in(HEAP.zone(DMA))` keeps a vector (and its regrowths) in
//!   the DMA zone while everything else uses the global allocator — no second global allocator;
//! - every deallocation, grow and shrink finds the block's zone by its address.
//!
//! ```text
//!        default order: [SRAM, PSRAM]          DMA reserved: only allocate_in(DMA, ..)
//!   zone 0 = SRAM              zone 1 = DMA                zone 2 = PSRAM
//!   0x2000_0000..0x2001_0000   0x2002_0000..0x2002_4000    0x6000_0000..0x6080_0000
//!   └─ heap 0 (any Heap)       └─ heap 1                   └─ heap 2
//!          hull 0                     hull 1                      hull 2
//! ```
//!
//! Each zone records the *hull* of the regions claimed into it: the address range from its
//! lowest region start to its highest region end. Hulls of different zones must not overlap
//! ([`claim_in`](Zoned::claim_in) refuses a region that would make them), so a block's address
//! names its zone in `N` comparisons, with no help from the heaps. In practice different
//! memories sit far apart in the address map; what the rule forbids is claiming two pieces of
//! one bank into a zone and a piece in between into another.
//!
//! # Examples
//!
//! ```
//! use core::alloc::Layout;
//! use bareheap::{Bump, Heap, HeapMemory, Zone, Zoned, ZonedHeap};
//!
//! const SRAM: Zone = Zone::new(0);
//! const DMA: Zone = Zone::new(1);
//!
//! static SRAM_MEM: HeapMemory<1024> = HeapMemory::new();
//! static DMA_MEM: HeapMemory<256> = HeapMemory::new();
//!
//! // Plain allocations use SRAM only; DMA memory is kept for DMA buffers.
//! let mut heap: Zoned<Bump, 2> = Zoned::with_order(&[SRAM]);
//! heap.claim_in(SRAM, SRAM_MEM.take().unwrap()).unwrap();
//! heap.claim_in(DMA, DMA_MEM.take().unwrap()).unwrap();
//!
//! let buf = heap.allocate_in(DMA, Layout::new::<[u8; 64]>()).unwrap();
//! assert_eq!(heap.zone_of(buf), Some(DMA));
//! let obj = heap.allocate(Layout::new::<[u8; 64]>()).unwrap();
//! assert_eq!(heap.zone_of(obj), Some(SRAM));
//! // The DMA zone is never used for plain allocations, even when SRAM is full:
//! assert!(heap.allocate(Layout::new::<[u8; 2048]>()).is_none());
//! ```

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::heap::{Claim, Corruption, Heap};
use crate::locked::{HeapCell, Locked, RawLock};
use crate::stats::{Counted, HeapStats};
use crate::{Bump, FirstFit, Region, RegionError};

/// The name of a zone of a [`Zoned`] heap: its index, `0..N`.
///
/// Define one constant per memory: `const DMA: Zone = Zone::new(1);`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Zone(u8);

impl Zone {
    /// The zone with this index.
    pub const fn new(index: u8) -> Self {
        Zone(index)
    }

    /// The index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A heap whose every value made by [`EMPTY`](EmptyHeap::EMPTY) manages no memory.
///
/// [`Zoned`] builds its heaps from this constant, so it knows every region they will ever use:
/// the ones given through [`Zoned::claim_in`].
///
/// # Safety
///
/// `EMPTY` must manage no memory: it returns `None` from every allocation until it is given a
/// [`Region`] (e.g. through [`Claim::claim`]).
pub unsafe trait EmptyHeap: Heap {
    /// A heap without memory.
    const EMPTY: Self;
}

// SAFETY: `Bump::new()` has a zero-length region: every allocation fails until `claim`.
unsafe impl EmptyHeap for Bump {
    const EMPTY: Self = Bump::new();
}

// SAFETY: `FirstFit::new()` has no regions and an empty free list: every allocation fails
// until `claim`.
unsafe impl EmptyHeap for FirstFit {
    const EMPTY: Self = FirstFit::new();
}

// SAFETY: `Counted` adds no memory; `H::EMPTY` has none (`H`'s guarantee).
unsafe impl<H: EmptyHeap> EmptyHeap for Counted<H> {
    const EMPTY: Self = Counted::new(H::EMPTY);
}

/// A heap that can place an allocation in a chosen [`Zone`]: [`Zoned`], and the wrappers
/// ([`Counted`], [`OnOom`](crate::OnOom)) around it.
///
/// # Safety
///
/// Implementors guarantee that blocks returned by [`allocate_in`](ZonedHeap::allocate_in),
/// [`allocate_preferring`](ZonedHeap::allocate_preferring) and
/// [`grow_in_zone`](ZonedHeap::grow_in_zone) meet the [`Heap`] guarantees and are
/// *currently allocated* by `self` in the [`Heap`] sense (so `deallocate`, `grow` and `shrink`
/// accept them); that a block from `allocate_in(zone, ..)` lies in memory claimed into `zone`;
/// and that `grow_in_zone` and `shrink` keep a block in its zone.
pub unsafe trait ZonedHeap: Heap {
    /// Allocates in `zone` only; `None` if that zone cannot serve `layout` (or does not exist).
    fn allocate_in(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>>;

    /// Allocates in `zone` if it can, otherwise like [`Heap::allocate`] (the default order).
    fn allocate_preferring(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        self.allocate_in(zone, layout).or_else(|| self.allocate(layout))
    }

    /// Like [`Heap::grow`], but if the block must move, it moves within its own zone; `None`
    /// if that zone has no room (then the block is untouched).
    ///
    /// # Safety
    ///
    /// As for [`Heap::grow`].
    unsafe fn grow_in_zone(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>>;

    /// The zone whose memory holds `ptr`, if any.
    fn zone_of(&self, ptr: NonNull<u8>) -> Option<Zone>;
}

/// Why [`Zoned::claim_in`] refused a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZoneError {
    /// The zone index is not below `N`.
    NoSuchZone(Zone),
    /// The region would make this zone's address range overlap another zone's, so a block's
    /// address would no longer name its zone.
    HullOverlap {
        /// The zone whose range would be overlapped.
        other: Zone,
    },
    /// The zone's heap refused the region.
    Region(RegionError),
}

impl From<RegionError> for ZoneError {
    fn from(e: RegionError) -> Self {
        ZoneError::Region(e)
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::NoSuchZone(z) => write!(f, "no zone {}", z.index()),
            ZoneError::HullOverlap { other } => {
                write!(f, "region would overlap the address range of zone {}", other.index())
            }
            ZoneError::Region(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for ZoneError {}

/// The address range `[lo, hi)` spanned by a zone's regions; empty when `lo == hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hull {
    lo: usize,
    hi: usize,
}

impl Hull {
    const EMPTY: Hull = Hull { lo: 0, hi: 0 };

    fn is_empty(self) -> bool {
        self.lo >= self.hi
    }

    fn contains(self, addr: usize) -> bool {
        self.lo <= addr && addr < self.hi
    }

    fn overlaps(self, other: Hull) -> bool {
        !self.is_empty() && !other.is_empty() && self.lo < other.hi && other.lo < self.hi
    }

    /// The hull grown to cover `[lo, hi)` too.
    fn union(self, lo: usize, hi: usize) -> Hull {
        if self.is_empty() {
            Hull { lo, hi }
        } else {
            Hull { lo: self.lo.min(lo), hi: self.hi.max(hi) }
        }
    }
}

/// `N` heaps, one per [`Zone`], behind one allocator (see the [module docs](self)).
///
/// # Properties
///
/// - Time: an allocation costs the heaps' allocations over the zones tried; finding a block's
///   zone (every deallocate, grow, shrink) is `N` range comparisons.
/// - Memory: `N` heaps, two words per zone for its hull, `N` bytes of default order.
///
/// # Drawbacks
///
/// - Zones' address ranges must not interleave (see the module docs); the rule is checked.
/// - A plain grow that cannot be served by the block's zone moves the block to the default
///   order; a block from a reserved zone can thus move out of it through `GlobalAlloc::realloc`.
///   Grow zone-bound blocks with [`grow_in_zone`](ZonedHeap::grow_in_zone) (the zone handles
///   of the `allocator-api2` feature do).
///
/// # Invariants
///
/// - **Z1** Every region a zone's heap manages came through [`claim_in`](Zoned::claim_in) for
///   that zone and lies inside that zone's hull (heaps start as [`EmptyHeap::EMPTY`], and no
///   `&mut` to them leaves this type).
/// - **Z2** Hulls of different zones do not overlap.
/// - **Z3** `order[..order_len]` are distinct indices below `N`.
///
/// From Z1 and Z2: a block currently allocated from zone `z`'s heap has its address in hull `z`
/// and in no other, so [`zone_of`](ZonedHeap::zone_of) names the heap that owns it.
pub struct Zoned<H, const N: usize> {
    heaps: [H; N],
    hulls: [Hull; N],
    /// The default order: zone indices tried by plain allocations (Z3).
    order: [u8; N],
    order_len: usize,
}

impl<H: EmptyHeap, const N: usize> Zoned<H, N> {
    /// `N` zones without memory; plain allocations try every zone, lowest index first.
    ///
    /// # Panics
    ///
    /// At compile time unless `1 <= N <= 256`.
    pub const fn new() -> Self {
        const { assert!(N >= 1 && N <= 256, "a Zoned heap has 1 to 256 zones") };
        let mut order = [0u8; N];
        let mut i = 0;
        while i < N {
            order[i] = i as u8; // i < N <= 256 (asserted above)
            i += 1;
        }
        Zoned { heaps: [H::EMPTY; N], hulls: [Hull::EMPTY; N], order, order_len: N }
    }

    /// `N` zones without memory; plain allocations try the zones in `order`, in that order.
    /// Zones not in `order` are reserved for [`allocate_in`](ZonedHeap::allocate_in) and
    /// [`allocate_preferring`](ZonedHeap::allocate_preferring).
    ///
    /// # Panics
    ///
    /// If `order` names a zone `>= N` or names a zone twice (at compile time in a `static`).
    /// At compile time unless `1 <= N <= 256`.
    pub const fn with_order(order: &[Zone]) -> Self {
        const { assert!(N >= 1 && N <= 256, "a Zoned heap has 1 to 256 zones") };
        assert!(order.len() <= N, "the default order names a zone twice");
        let mut seen = [false; N];
        let mut list = [0u8; N];
        let mut i = 0;
        while i < order.len() {
            let z = order[i].index();
            assert!(z < N, "the default order names a zone that does not exist");
            assert!(!seen[z], "the default order names a zone twice");
            seen[z] = true;
            list[i] = order[i].0;
            i += 1;
        }
        Zoned { heaps: [H::EMPTY; N], hulls: [Hull::EMPTY; N], order: list, order_len: order.len() }
    }
}

impl<H: EmptyHeap, const N: usize> Default for Zoned<H, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H, const N: usize> Zoned<H, N> {
    /// The heap of `zone`, for queries (e.g. its [`HeapStats`] or, for [`Counted`] heaps, its
    /// counters). `None` if the zone does not exist.
    pub fn heap(&self, zone: Zone) -> Option<&H> {
        self.heaps.get(zone.index())
    }

    /// The default order (zones tried by plain allocations).
    pub fn default_order(&self) -> impl Iterator<Item = Zone> + '_ {
        self.order.iter().take(self.order_len).map(|&z| Zone(z))
    }

    /// The index of the zone whose hull holds `addr` (Z1, Z2: at most one).
    fn owner(&self, addr: usize) -> Option<usize> {
        self.hulls.iter().position(|h| h.contains(addr))
    }
}

impl<H: Claim, const N: usize> Zoned<H, N> {
    /// Gives `region` to the heap of `zone`. May be called at any time, any number of times
    /// (as far as the zone's heap accepts more regions). Returns the usable bytes.
    ///
    /// # Errors
    ///
    /// [`ZoneError::NoSuchZone`] for a zone `>= N`; [`ZoneError::HullOverlap`] if the region
    /// would make this zone's address range overlap another zone's; [`ZoneError::Region`] when
    /// the zone's heap refuses the region. In every case nothing changed.
    pub fn claim_in(&mut self, zone: Zone, region: Region) -> Result<usize, ZoneError> {
        let z = zone.index();
        let (Some(heap), Some(hull)) = (self.heaps.get_mut(z), self.hulls.get(z)) else {
            return Err(ZoneError::NoSuchZone(zone));
        };
        let grown = hull.union(region.base().as_ptr().addr(), region.end_addr());
        let mut others = self.hulls.iter().enumerate().filter(|&(k, _)| k != z);
        if let Some((other, _)) = others.find(|&(_, h)| grown.overlaps(*h)) {
            return Err(ZoneError::HullOverlap { other: Zone(other as u8) }); // other < N <= 256
        }
        let usable = heap.claim(region)?;
        // Only now that the heap took the region does the hull cover it (Z1); Z2 holds by the
        // check above.
        if let Some(hull) = self.hulls.get_mut(z) {
            *hull = grown;
        }
        Ok(usable)
    }
}

impl<H: Heap, const N: usize> Zoned<H, N> {
    /// Allocates from the default order, skipping zone `skip` (`N` skips nothing).
    fn allocate_skipping(&mut self, layout: Layout, skip: usize) -> Option<NonNull<u8>> {
        let order = self.order.get(..self.order_len)?;
        for &z in order {
            let z = usize::from(z);
            if z == skip {
                continue;
            }
            if let Some(p) = self.heaps.get_mut(z).and_then(|h| h.allocate(layout)) {
                return Some(p);
            }
        }
        None
    }
}

/// Sums the zones' free bytes; the largest free block is the largest of any zone.
impl<H: HeapStats, const N: usize> HeapStats for Zoned<H, N> {
    fn free_bytes(&self) -> usize {
        self.heaps.iter().fold(0usize, |sum, h| sum.saturating_add(h.free_bytes()))
    }

    fn largest_free_block(&self) -> usize {
        self.heaps.iter().map(HeapStats::largest_free_block).max().unwrap_or(0)
    }
}

// SAFETY: every block comes from one zone's heap and is returned to that same heap: `owner`
// finds it by address (Z1, Z2), so each heap sees only its own blocks and its guarantees carry
// over. Blocks of different heaps do not overlap because the heaps' regions are disjoint
// (`Region`'s R2). A moving grow across zones is an allocation in another heap, a copy of
// `old.size()` bytes and a deallocation in the first. Nothing panics: indices are checked.
unsafe impl<H: Heap, const N: usize> Heap for Zoned<H, N> {
    /// Tries the zones of the default order in turn.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.allocate_skipping(layout, N)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // A pointer in no hull cannot be currently allocated here (Z1); it leaks.
        let Some(heap) = self.owner(ptr.as_ptr().addr()).and_then(|z| self.heaps.get_mut(z)) else {
            return;
        };
        // SAFETY: `ptr` is currently allocated by `self` (caller contract), hence by the heap
        // of the one zone whose hull holds it (Z1, Z2), with `layout`.
        unsafe { heap.deallocate(ptr, layout) }
    }

    /// Grows within the block's zone; if that zone has no room, moves the block to the default
    /// order (other zones).
    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let z = self.owner(ptr.as_ptr().addr())?;
        let heap = self.heaps.get_mut(z)?;
        // SAFETY: `ptr` belongs to zone `z`'s heap (as in `deallocate`); the rest of the
        // contract is the caller's.
        if let Some(p) = unsafe { heap.grow(ptr, old, new_size) } {
            return Some(p);
        }
        let new =
            self.allocate_skipping(Layout::from_size_align(new_size, old.align()).ok()?, z)?;
        // SAFETY: `new` is a fresh block of `new_size >= old.size()` bytes in another zone, so
        // it does not overlap `ptr`, which is valid for `old.size()` bytes (caller contract).
        unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), old.size()) };
        if let Some(heap) = self.heaps.get_mut(z) {
            // SAFETY: `ptr` is still allocated by zone `z`'s heap with `old` (the failed grow
            // left it untouched).
            unsafe { heap.deallocate(ptr, old) };
        }
        Some(new)
    }

    /// Shrinks within the block's zone.
    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let heap = self.owner(ptr.as_ptr().addr()).and_then(|z| self.heaps.get_mut(z))?;
        // SAFETY: as in `deallocate`; the rest of the contract is the caller's.
        unsafe { heap.shrink(ptr, old, new_size) }
    }

    /// Validates every zone's heap, then the hulls (Z2) and the default order (Z3).
    fn validate(&self) -> Result<(), Corruption> {
        for heap in &self.heaps {
            heap.validate()?;
        }
        for (i, a) in self.hulls.iter().enumerate() {
            for b in self.hulls.iter().skip(i + 1) {
                if a.overlaps(*b) {
                    return Err(Corruption { what: "Z2: zone address ranges overlap", addr: b.lo });
                }
            }
        }
        let addr = core::ptr::from_ref(self).addr();
        let Some(order) = self.order.get(..self.order_len) else {
            return Err(Corruption { what: "Z3: default order longer than N", addr });
        };
        let mut seen = [false; N];
        for &z in order {
            match seen.get_mut(usize::from(z)) {
                Some(s) if !*s => *s = true,
                _ => return Err(Corruption { what: "Z3: default order names a bad zone", addr }),
            }
        }
        Ok(())
    }
}

// SAFETY: `allocate_in` allocates from the heap of `zone` only, whose memory was claimed into
// `zone` (Z1); `grow_in_zone` and `shrink` call only the owning heap, which keeps the block in
// its own memory. The blocks are currently allocated by `self` in the `Heap` sense because
// `owner` finds their heap by address, as for blocks from `allocate`.
unsafe impl<H: Heap, const N: usize> ZonedHeap for Zoned<H, N> {
    fn allocate_in(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        self.heaps.get_mut(zone.index())?.allocate(layout)
    }

    fn allocate_preferring(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        let z = zone.index();
        self.heaps.get_mut(z)?.allocate(layout).or_else(|| self.allocate_skipping(layout, z))
    }

    unsafe fn grow_in_zone(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let heap = self.owner(ptr.as_ptr().addr()).and_then(|z| self.heaps.get_mut(z))?;
        // SAFETY: as in `Heap::grow`.
        unsafe { heap.grow(ptr, old, new_size) }
    }

    fn zone_of(&self, ptr: NonNull<u8>) -> Option<Zone> {
        self.owner(ptr.as_ptr().addr()).map(|z| Zone(z as u8)) // z < N <= 256
    }
}

// SAFETY: forwards to `H`, whose zone guarantees carry over; counting changes no block.
unsafe impl<H: ZonedHeap> ZonedHeap for Counted<H> {
    fn allocate_in(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        let result = self.heap_mut().allocate_in(zone, layout);
        self.record_allocation(layout.size(), result)
    }

    fn allocate_preferring(&mut self, zone: Zone, layout: Layout) -> Option<NonNull<u8>> {
        let result = self.heap_mut().allocate_preferring(zone, layout);
        self.record_allocation(layout.size(), result)
    }

    unsafe fn grow_in_zone(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        let result = unsafe { self.heap_mut().grow_in_zone(ptr, old, new_size) };
        self.record_reallocation(old.size(), new_size, result)
    }

    fn zone_of(&self, ptr: NonNull<u8>) -> Option<Zone> {
        self.heap().zone_of(ptr)
    }
}

/// An allocator handle for one zone of a shared [`ZonedHeap`]: made by [`Locked::zone`],
/// [`Locked::zone_preferred`], [`HeapCell::zone`] and [`HeapCell::zone_preferred`].
///
/// With the `allocator-api2` feature (or `nightly`), it implements `Allocator`, so a collection
/// can live in one zone: `allocator_api2::vec::Vec::new_in(HEAP.zone(DMA))`. A *restricting*
/// handle ([`zone`](Locked::zone)) allocates and regrows only in its zone, and fails when the
/// zone is full; a *preferring* one ([`zone_preferred`](Locked::zone_preferred)) falls back to
/// the default order. Deallocation finds the zone by address either way.
#[derive(Debug)]
pub struct InZone<'a, A> {
    pub(crate) access: &'a A,
    pub(crate) zone: Zone,
    pub(crate) strict: bool,
}

impl<A> Clone for InZone<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for InZone<'_, A> {}

impl<'a, A> InZone<'a, A> {
    /// The shared heap this handle allocates from.
    pub fn heap(&self) -> &'a A {
        self.access
    }

    /// The zone this handle allocates in (or prefers).
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// Whether the handle falls back to other zones.
    pub fn is_preferring(&self) -> bool {
        !self.strict
    }
}

impl<L: RawLock, H: ZonedHeap> Locked<L, H> {
    /// An allocator handle that allocates only in `zone` (see [`InZone`]).
    pub fn zone(&self, zone: Zone) -> InZone<'_, Self> {
        InZone { access: self, zone, strict: true }
    }

    /// An allocator handle that prefers `zone` and falls back to the default order.
    pub fn zone_preferred(&self, zone: Zone) -> InZone<'_, Self> {
        InZone { access: self, zone, strict: false }
    }
}

impl<H: ZonedHeap> HeapCell<H> {
    /// An allocator handle that allocates only in `zone` (see [`InZone`]).
    pub fn zone(&self, zone: Zone) -> InZone<'_, Self> {
        InZone { access: self, zone, strict: true }
    }

    /// An allocator handle that prefers `zone` and falls back to the default order.
    pub fn zone_preferred(&self, zone: Zone) -> InZone<'_, Self> {
        InZone { access: self, zone, strict: false }
    }
}

#[cfg(test)]
mod tests;

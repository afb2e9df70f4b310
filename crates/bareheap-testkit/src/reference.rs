//! [`RefHeap`]: a deliberately simple, obviously correct heap that keeps all its metadata in
//! ordinary collections outside the arena. It exists to test the testkit itself (and as a
//! yardstick): every harness property must hold for it, and its faulty twins in
//! [`faulty`](crate::faulty) must be caught.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::NonNull;

use bareheap::heap::move_block;
use bareheap::{Claim, Corruption, Heap, Region, RegionError};

/// Every block and free range starts and ends on a multiple of this.
pub const GRANULE: usize = 16;

/// A first-fit heap over address-ordered maps of free and used ranges, kept outside the arena.
///
/// Properties: several regions (overlap refused), zero-size blocks take one granule, grow in
/// place into a following free range, shrink always in place. Nothing is written into the
/// arena, so a byte that changes there was written by the user of a block.
///
/// # Invariants
///
/// - **RH1** Free and used ranges are granule-aligned, inside one region each, and disjoint;
///   together they cover every region exactly.
/// - **RH2** No two free ranges of the same region touch (they are coalesced).
#[derive(Debug, Default)]
pub struct RefHeap {
    /// Claimed regions, trimmed to granules, sorted by address.
    regions: Vec<Region>,
    /// Free ranges: start address -> length.
    free: BTreeMap<usize, usize>,
    /// Used ranges: start address -> reserved length.
    used: BTreeMap<usize, usize>,
}

impl RefHeap {
    /// An empty heap without memory.
    pub const fn new() -> Self {
        RefHeap { regions: Vec::new(), free: BTreeMap::new(), used: BTreeMap::new() }
    }

    /// Bytes in free ranges.
    pub fn free_bytes(&self) -> usize {
        self.free.values().sum()
    }

    /// Index of the region containing `addr`.
    fn region_of(&self, addr: usize) -> Option<usize> {
        let i = self.regions.partition_point(|r| r.base().as_ptr().addr() <= addr);
        let i = i.checked_sub(1)?;
        self.regions[i].contains_addr(addr).then_some(i)
    }

    /// A pointer to `addr` with the provenance of the region that contains it.
    fn ptr(&self, addr: usize) -> Option<NonNull<u8>> {
        let r = &self.regions[self.region_of(addr)?];
        NonNull::new(r.base().as_ptr().with_addr(addr))
    }

    /// Adds `[start, start + len)` to the free map, merging with neighbours of the same region.
    fn release(&mut self, mut start: usize, mut len: usize) {
        let region = self.region_of(start);
        if let Some((&ps, &pl)) = self.free.range(..start).next_back() {
            if ps + pl == start && self.region_of(ps) == region {
                self.free.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(&nl) = self.free.get(&(start + len)) {
            if self.region_of(start + len) == region {
                self.free.remove(&(start + len));
                len += nl;
            }
        }
        self.free.insert(start, len);
    }

    /// Bytes a block of `size` reserves.
    fn reserve_len(size: usize) -> Option<usize> {
        size.max(1).checked_next_multiple_of(GRANULE)
    }
}

impl Claim for RefHeap {
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        let region = region.align_to(GRANULE, GRANULE)?;
        if self.regions.iter().any(|r| r.overlaps(&region)) {
            return Err(RegionError::Overlap);
        }
        let (start, len) = (region.base().as_ptr().addr(), region.len());
        let at = self.regions.partition_point(|r| r.base().as_ptr().addr() < start);
        self.regions.insert(at, region);
        self.free.insert(start, len);
        Ok(len)
    }
}

// SAFETY: blocks are carved from free ranges of claimed regions (valid for reads and writes by
// the `Region` contract) and recorded as used until freed (RH1), so they never overlap; their
// start is rounded up to the alignment. Nothing panics: all arithmetic is checked, and map
// lookups use `get`.
unsafe impl Heap for RefHeap {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let need = Self::reserve_len(layout.size())?;
        let (fs, fl, at) = self.free.iter().find_map(|(&fs, &fl)| {
            let at = fs.checked_next_multiple_of(layout.align())?;
            let end = at.checked_add(need)?;
            (end <= fs + fl).then_some((fs, fl, at))
        })?;
        self.free.remove(&fs);
        if at > fs {
            self.free.insert(fs, at - fs);
        }
        if at + need < fs + fl {
            self.free.insert(at + need, fs + fl - (at + need));
        }
        self.used.insert(at, need);
        self.ptr(at)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, _layout: Layout) {
        let addr = ptr.as_ptr().addr();
        if let Some(len) = self.used.remove(&addr) {
            self.release(addr, len);
        }
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let addr = ptr.as_ptr().addr();
        let have = *self.used.get(&addr)?;
        let need = Self::reserve_len(new_size)?;
        Layout::from_size_align(new_size, old.align()).ok()?;
        if need <= have {
            return Some(ptr);
        }
        let next = addr + have;
        if let Some(&nl) = self.free.get(&next) {
            if self.region_of(next) == self.region_of(addr) && have + nl >= need {
                self.free.remove(&next);
                if have + nl > need {
                    self.free.insert(addr + need, have + nl - need);
                }
                self.used.insert(addr, need);
                return Some(ptr);
            }
        }
        // SAFETY: forwarded caller contract (`ptr` currently allocated with `old`).
        unsafe { move_block(self, ptr, old, new_size) }
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        _old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let addr = ptr.as_ptr().addr();
        let have = *self.used.get(&addr)?;
        let need = Self::reserve_len(new_size)?;
        if need < have {
            self.used.insert(addr, need);
            self.release(addr + need, have - need);
        }
        Some(ptr)
    }

    fn validate(&self) -> Result<(), Corruption> {
        let bad = |what, addr| Err(Corruption { what, addr });
        // One walk over free and used ranges merged in address order (RH1, RH2).
        let mut free = self.free.iter().map(|(&s, &l)| (s, l, true)).peekable();
        let mut used = self.used.iter().map(|(&s, &l)| (s, l, false)).peekable();
        let (mut ri, mut total) = (0, 0usize);
        let mut prev: Option<(usize, bool, usize)> = None; // (end, free, region)
        loop {
            let take_free = match (free.peek(), used.peek()) {
                (Some(f), Some(u)) => f.0 <= u.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_free { free.next() } else { used.next() };
            let Some((s, l, is_free)) = next else { break };
            if s % GRANULE != 0 || l % GRANULE != 0 || l == 0 {
                return bad("RH1: range not granule-aligned", s);
            }
            while ri < self.regions.len() && self.regions[ri].end_addr() <= s {
                ri += 1;
            }
            let Some(r) = self.regions.get(ri) else { return bad("RH1: range outside", s) };
            if !r.contains_addr(s) || s + l > r.end_addr() {
                return bad("RH1: range not inside one region", s);
            }
            if let Some((pe, pf, pr)) = prev {
                if pe > s {
                    return bad("RH1: ranges overlap", s);
                }
                if pe == s && pf && is_free && pr == ri {
                    return bad("RH2: adjacent free ranges", s);
                }
            }
            prev = Some((s + l, is_free, ri));
            total += l;
        }
        let claimed: usize = self.regions.iter().map(Region::len).sum();
        if total != claimed {
            return bad("RH1: free + used != claimed", total);
        }
        Ok(())
    }
}

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
        let mut total = 0usize;
        let mut prev_free_end: Option<usize> = None;
        for (&s, &l) in &self.free {
            if s % GRANULE != 0 || l % GRANULE != 0 || l == 0 {
                return bad("RH1: free range not granule-aligned", s);
            }
            let Some(r) = self.region_of(s) else { return bad("RH1: free range outside", s) };
            if s + l > self.regions[r].end_addr() {
                return bad("RH1: free range crosses its region's end", s);
            }
            if prev_free_end.is_some_and(|e| e > s) {
                return bad("RH1: free ranges overlap", s);
            }
            if prev_free_end == Some(s) && self.region_of(s - 1) == Some(r) {
                return bad("RH2: adjacent free ranges", s);
            }
            if self.used.range(s..s + l).next().is_some() {
                return bad("RH1: free range covers a used range", s);
            }
            prev_free_end = Some(s + l);
            total += l;
        }
        let mut prev_used_end = 0;
        for (&s, &l) in &self.used {
            if s < prev_used_end {
                return bad("RH1: used ranges overlap", s);
            }
            prev_used_end = s + l;
            let Some(r) = self.region_of(s) else { return bad("RH1: used range outside", s) };
            if s + l > self.regions[r].end_addr() {
                return bad("RH1: used range crosses its region's end", s);
            }
            total += l;
        }
        let claimed: usize = self.regions.iter().map(Region::len).sum();
        if total != claimed {
            return bad("RH1: free + used != claimed", total);
        }
        Ok(())
    }
}

//! The shadow model: an independent record of every live block that checks each heap result.
//!
//! Every check returns a [`Violation`] whose text starts with the violated property
//! (`overlap`, `misaligned`, `out of bounds`, `contents`, `unknown block`); the
//! [`Rig`](crate::Rig) turns it into a panic with the operation that caused it, so a test can
//! expect it (`#[should_panic(expected = "overlap")]`).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

/// A live block as the shadow knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// One past the last byte the block covers: `addr + max(size, 1)` (a zero-size block is a
    /// unique minimal block, so it covers at least its first byte).
    pub end: usize,
    /// The size requested for the block.
    pub size: usize,
    /// The alignment requested for the block.
    pub align: usize,
    /// The id whose pattern fills the block.
    pub id: u64,
}

/// What the shadow found wrong, in words.
pub type Violation = String;

/// The checking model of live blocks and of the memory given to the heap.
#[derive(Debug, Default)]
pub struct Shadow {
    /// Address ranges `[start, end)` given to the heap, sorted by start.
    regions: Vec<(usize, usize)>,
    /// Live blocks by address.
    live: BTreeMap<usize, Entry>,
    /// The sum of the live blocks' requested sizes.
    live_bytes: usize,
    /// Bytes of block contents verified so far.
    pub bytes_checked: u64,
    /// One id's pattern (its first `page_len` bytes are valid), so filling and verifying are
    /// `memcpy` and `memcmp` runs.
    page: Vec<u8>,
    page_id: Option<u64>,
    page_len: usize,
}

/// The pattern repeats every `PERIOD` bytes (a wrong copy offset by a multiple of 4 KiB would
/// go unnoticed; any other is caught).
pub const PERIOD: usize = 4096;

/// The fill byte at position `i` of the block with id `id`: a per-id 64-bit word, rotated and
/// offset per 8-byte chunk, so blocks differ from each other and from themselves shifted.
pub fn pattern_byte(id: u64, i: usize) -> u8 {
    chunk(mix(id), (i % PERIOD) / 8)[i % 8]
}

/// The 8 pattern bytes of chunk `c` for a block whose mixed id is `m`.
fn chunk(m: u64, c: usize) -> [u8; 8] {
    (m.rotate_left(c as u32 % 64) ^ c as u64).to_le_bytes()
}

/// splitmix64's finalizer: a cheap bijective scramble of the id.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Shadow {
    /// An empty model with no regions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `[start, start + len)` as memory the heap may hand out. Touching regions are
    /// joined: a heap may merge them (the `Region` contract, R3), so a block may span both.
    pub fn add_region(&mut self, start: usize, len: usize) {
        let mut end = start.checked_add(len).expect("region wraps");
        let mut start = start;
        let mut at = self.regions.partition_point(|&(s, _)| s < start);
        if at < self.regions.len() && self.regions[at].0 == end {
            end = self.regions.remove(at).1;
        }
        if at > 0 && self.regions[at - 1].1 == start {
            at -= 1;
            start = self.regions.remove(at).0;
        }
        self.regions.insert(at, (start, end));
    }

    /// The regions, sorted by start.
    pub fn regions(&self) -> &[(usize, usize)] {
        &self.regions
    }

    /// The number of live blocks.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// The sum of the live blocks' requested sizes.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// The live block at `addr`, if any.
    pub fn get(&self, addr: usize) -> Option<&Entry> {
        self.live.get(&addr)
    }

    /// Checks a block the heap just returned (alignment, bounds, overlap with every live block)
    /// and records it. Writes nothing; see [`Shadow::fill`].
    ///
    /// # Errors
    ///
    /// `misaligned`, `out of bounds` or `overlap`, with both ranges; nothing is recorded then.
    pub fn insert(
        &mut self,
        addr: usize,
        size: usize,
        align: usize,
        id: u64,
    ) -> Result<(), Violation> {
        if !align.is_power_of_two() || !addr.is_multiple_of(align) {
            return Err(format!(
                "misaligned: block {addr:#x} (size {size}) is not aligned to {align}"
            ));
        }
        let Some(end) = addr.checked_add(size.max(1)) else {
            return Err(format!("out of bounds: block {addr:#x} + {size} wraps the address space"));
        };
        if !self.regions.iter().any(|&(s, e)| s <= addr && end <= e) {
            return Err(format!(
                "out of bounds: block [{addr:#x}, {end:#x}) (size {size}) is not inside any \
                 region {:x?}",
                self.regions
            ));
        }
        let before = self.live.range(..=addr).next_back().filter(|(_, e)| e.end > addr);
        let after = self.live.range(addr..).next().filter(|(&a, _)| a < end);
        if let Some((&a, e)) = before.or(after) {
            return Err(format!(
                "overlap: new block [{addr:#x}, {end:#x}) (id {id}) overlaps live block \
                 [{a:#x}, {:#x}) (id {})",
                e.end, e.id
            ));
        }
        self.live.insert(addr, Entry { end, size, align, id });
        self.live_bytes += size;
        Ok(())
    }

    /// Forgets the live block at `addr`, returning what was recorded.
    ///
    /// # Errors
    ///
    /// `unknown block` if no live block starts at `addr`.
    pub fn remove(&mut self, addr: usize) -> Result<Entry, Violation> {
        let e = self
            .live
            .remove(&addr)
            .ok_or_else(|| format!("unknown block: no live block starts at {addr:#x}"))?;
        self.live_bytes -= e.size;
        Ok(e)
    }

    /// Block `id`'s pattern, valid for at least `min(need, PERIOD)` bytes.
    fn page(&mut self, id: u64, need: usize) -> &[u8] {
        let need = need.min(PERIOD).next_multiple_of(8);
        if self.page_id != Some(id) {
            self.page_id = Some(id);
            self.page_len = 0;
        }
        if self.page.len() < PERIOD {
            self.page = alloc::vec![0; PERIOD]; // zeroed allocation, not a byte loop
        }
        if self.page_len < need {
            let m = mix(id);
            for c in self.page_len / 8..need / 8 {
                self.page[c * 8..c * 8 + 8].copy_from_slice(&chunk(m, c));
            }
            self.page_len = need;
        }
        &self.page
    }

    /// Writes block `id`'s pattern over bytes `[from, to)` of the block at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of `to` bytes and not be accessed through any other path
    /// during the call (a block the heap handed out and the shadow checked with `insert`).
    pub unsafe fn fill(&mut self, ptr: NonNull<u8>, id: u64, from: usize, to: usize) {
        let page = self.page(id, to);
        let mut i = from;
        while i < to {
            let off = i % PERIOD;
            let n = (PERIOD - off).min(to - i);
            // SAFETY: caller contract: `[i, i + n)` is inside the block's `to` bytes; the page
            // is our own buffer, so the ranges do not overlap.
            unsafe { ptr.as_ptr().add(i).copy_from_nonoverlapping(page[off..].as_ptr(), n) };
            i += n;
        }
    }

    /// Verifies that bytes `[0, len)` of the block at `ptr` hold block `id`'s pattern.
    ///
    /// # Errors
    ///
    /// `contents` with the first differing position.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads of `len` bytes, initialized (filled with `fill` earlier,
    /// possibly at another address before a move), and not written during the call.
    pub unsafe fn verify(
        &mut self,
        ptr: NonNull<u8>,
        id: u64,
        len: usize,
        what: &str,
    ) -> Result<(), Violation> {
        // SAFETY: caller contract: valid for reads of `len` initialized bytes, not written now.
        let bytes = unsafe { core::slice::from_raw_parts(ptr.as_ptr().cast_const(), len) };
        let page = self.page(id, len);
        for (k, run) in bytes.chunks(PERIOD).enumerate() {
            let want = &page[..run.len()];
            if run != want {
                let j = run.iter().zip(want).position(|(g, w)| g != w).unwrap_or(0);
                let i = k * PERIOD + j;
                return Err(format!(
                    "contents: block {:#x} (id {id}) byte {i} of {len} is {:#04x}, expected \
                     {:#04x} ({what})",
                    ptr.as_ptr().addr(),
                    run[j],
                    want[j]
                ));
            }
        }
        self.bytes_checked += len as u64;
        Ok(())
    }
}

#![doc = include_str!("../docs/sizing.md")]

use core::alloc::Layout;

use crate::Bump;

impl Bump {
    /// The least region length [`claim`](crate::Claim::claim) accepts: one byte.
    pub const MIN_REGION_SIZE: usize = 1;

    /// Bytes each allocation costs besides its payload and alignment padding: none. A promise
    /// users may size heaps against.
    pub const fn overhead_per_allocation() -> usize {
        0
    }

    /// [`Self::MIN_REGION_SIZE`] as a function.
    pub const fn min_region_size() -> usize {
        Self::MIN_REGION_SIZE
    }

    /// A region length that guarantees that one allocation of `layout` succeeds on a fresh
    /// bump heap with that region, at any base address: the size (at least 1, as zero-size
    /// blocks take a byte) plus `align - 1` bytes of worst-case padding. A promise, like
    /// [`FirstFit::region_size_for`](crate::FirstFit::region_size_for).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use bareheap::Bump;
    ///
    /// let layout = Layout::from_size_align(100, 16).unwrap();
    /// assert_eq!(Bump::region_size_for(layout), 115);
    /// ```
    pub const fn region_size_for(layout: Layout) -> usize {
        let size = if layout.size() == 0 { 1 } else { layout.size() };
        // A `Layout`'s size rounded up to its alignment fits in `isize`, so this never
        // saturates; saturating keeps that an argument rather than a panic path.
        size.saturating_add(layout.align() - 1)
    }
}

#[cfg(test)]
mod tests {
    use core::alloc::Layout;

    use crate::test_util::region;
    use crate::{Bump, Claim, Heap, Region};

    /// The promise of `region_size_for`, checked at every base offset: the computed length is
    /// enough, and one byte less may not be.
    #[test]
    fn bump_region_size_for_is_enough_at_every_base_offset() {
        for (size, align) in [(1, 2), (2, 1), (100, 16), (3, 64), (64, 64), (1000, 256)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let len = Bump::region_size_for(layout);
            let mut tight = false;
            // One buffer for all offsets, so the sweep meets every residue modulo `align`.
            let buf = region(len + align).base();
            for offset in 0..align {
                let base = buf.as_ptr().wrapping_add(offset);
                // SAFETY: `[base, base + len)` lies in the leaked buffer, which nothing else
                // uses; the heaps below only compute addresses in it.
                let r = unsafe { Region::new(base, len) }.unwrap();
                let mut bump = Bump::new();
                bump.claim(r).unwrap();
                assert!(bump.allocate(layout).is_some(), "{layout:?} at offset {offset}");
                // One byte less fails where the padding is worst (base one past alignment).
                let mut short = Bump::new();
                // SAFETY: as above, one byte shorter.
                short.claim(unsafe { Region::new(base, len - 1) }.unwrap()).unwrap();
                tight |= short.allocate(layout).is_none();
            }
            assert!(tight, "{layout:?}: region_size_for is not tight");
        }
    }

    #[test]
    fn bump_sizing_constants() {
        assert_eq!(Bump::overhead_per_allocation(), 0);
        assert_eq!(Bump::min_region_size(), 1);
        let mut bump = Bump::new();
        bump.claim(region(Bump::min_region_size())).unwrap();
        assert!(bump.allocate(Layout::new::<u8>()).is_some());
    }
}
